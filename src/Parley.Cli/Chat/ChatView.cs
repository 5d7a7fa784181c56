using System.Text;

namespace Parley.Cli.Chat;

/// <summary>Where the chat client writes: one line per event, and in a terminal a prompt with the line being typed.</summary>
/// <remarks>Thread-safe: events print from the connection's loop while the input loop edits the prompt.</remarks>
internal abstract class ChatView
{
    /// <summary>Writes one event (a line, or several joined by newlines).</summary>
    public abstract void Print(string text);

    /// <summary>The prompt in front of the typed line, e.g. <c>#general&gt; </c>.</summary>
    public virtual void SetPrompt(string prompt)
    {
    }

    /// <summary>Shows the prompt with <paramref name="text"/> being typed.</summary>
    public virtual void ShowInput(string text)
    {
    }

    /// <summary>Removes the prompt and typed line from the screen (Enter was pressed, or the session is over).</summary>
    public virtual void HideInput()
    {
    }

    /// <summary>
    /// Text from the server made safe to print: control characters (ESC starts a terminal
    /// command sequence; a newline would fake a second event line) shown in caret notation
    /// (<c>^[</c>), C1 controls as U+FFFD. Another user's message can then neither move the
    /// cursor, recolour or retitle the terminal, nor forge a line of the client's own.
    /// </summary>
    public static string Printable(string text)
    {
        int i = 0;
        while (i < text.Length && !char.IsControl(text[i]))
        {
            i++;
        }

        if (i == text.Length)
        {
            return text;
        }

        var safe = new StringBuilder(text.Length + 8);
        safe.Append(text, 0, i);
        for (; i < text.Length; i++)
        {
            char c = text[i];
            if (c < ' ')
            {
                safe.Append('^').Append((char)(c + '@'));
            }
            else if (c == '\u007f')
            {
                safe.Append("^?");
            }
            else if (char.IsControl(c))
            {
                safe.Append('\uFFFD');
            }
            else
            {
                safe.Append(c);
            }
        }

        return safe.ToString();
    }
}

using System.Text;

namespace Parley.Cli.Chat;

/// <summary>
/// Output for a person at a terminal: events scroll above one input line that shows the prompt
/// and the text being typed.
/// </summary>
/// <remarks>
/// The view owns the input line: every change erases it (<c>CR</c>, then <c>ESC [2K</c>, erase
/// line) and draws it again from its state, so there is exactly one prompt on screen whatever
/// order events and keys arrive in. An event is written where the input line was, then the
/// input line is drawn under it. Enter takes the typed line off the screen: a message appears
/// once, as the server's copy (<c>[#room] you: text</c>) when it is stored, and a command
/// shows its answer. The typed line is drawn on one row, its end kept visible (<c>…</c> in front
/// when it is cut), because erasing a line the terminal wrapped would leave its first rows behind.
/// </remarks>
internal sealed class TerminalChatView(TextWriter output, Func<int> width, Func<string, int> cells) : ChatView
{
    private const string EraseLine = "\r\u001b[2K";

    private readonly Lock _lock = new();
    private string _prompt = "> ";
    private string _input = "";
    private bool _inputShown;

    /// <summary>A view on the process's console, measuring text with Spectre.Console's cell widths (wide CJK and emoji take two).</summary>
    public static TerminalChatView ForConsole() => new(Console.Out, ConsoleWidth, Spectre.Console.StringExtensions.GetCellWidth);

    public override void Print(string text)
    {
        lock (_lock)
        {
            if (_inputShown)
            {
                output.Write(EraseLine);
            }

            output.Write(text);
            output.Write('\n');
            if (_inputShown)
            {
                WriteInputLine();
            }

            output.Flush();
        }
    }

    public override void SetPrompt(string prompt)
    {
        lock (_lock)
        {
            _prompt = prompt;
            Redraw();
        }
    }

    public override void ShowInput(string text)
    {
        lock (_lock)
        {
            _input = text;
            _inputShown = true;
            Redraw();
        }
    }

    public override void HideInput()
    {
        lock (_lock)
        {
            if (_inputShown)
            {
                output.Write(EraseLine);
                output.Flush();
            }

            _inputShown = false;
            _input = "";
        }
    }

    private void Redraw()
    {
        if (_inputShown)
        {
            output.Write(EraseLine);
            WriteInputLine();
            output.Flush();
        }
    }

    private void WriteInputLine()
    {
        output.Write(_prompt);
        output.Write(VisibleEnd(_input, width() - cells(_prompt) - 1, cells));
    }

    /// <summary>The end of <paramref name="text"/> that fits in <paramref name="columns"/> terminal cells, with <c>…</c> in front when it is cut.</summary>
    internal static string VisibleEnd(string text, int columns, Func<string, int> cells)
    {
        if (cells(text) <= columns)
        {
            return text;
        }

        // Whole text elements from the end, so a wide or combined character is never cut in half.
        var elements = new List<string>();
        System.Globalization.TextElementEnumerator enumerator = System.Globalization.StringInfo.GetTextElementEnumerator(text);
        while (enumerator.MoveNext())
        {
            elements.Add(enumerator.GetTextElement());
        }

        int used = 1; // the ellipsis
        int first = elements.Count;
        while (first > 0 && used + cells(elements[first - 1]) <= columns)
        {
            used += cells(elements[--first]);
        }

        var visible = new StringBuilder("…");
        for (int i = first; i < elements.Count; i++)
        {
            visible.Append(elements[i]);
        }

        return visible.ToString();
    }

    private static int ConsoleWidth()
    {
        try
        {
            return Console.WindowWidth > 0 ? Console.WindowWidth : 80;
        }
        catch (IOException)
        {
            return 80; // no terminal size to ask for (output went away): a common width
        }
    }
}

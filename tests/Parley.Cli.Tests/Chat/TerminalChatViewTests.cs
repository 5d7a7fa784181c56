using System.Text;
using Parley.Cli.Chat;

namespace Parley.Cli.Tests.Chat;

public sealed class TerminalChatViewTests
{
    /// <summary>Enough of a terminal to read the screen back: CR, LF (with the tty's CR), ESC [2K, and text.</summary>
    private sealed class Screen
    {
        private readonly List<StringBuilder> _rows = [new()];
        private int _column;

        public void Feed(string output)
        {
            for (int i = 0; i < output.Length; i++)
            {
                char c = output[i];
                StringBuilder row = _rows[^1];
                if (c == '\r')
                {
                    _column = 0;
                }
                else if (c == '\n')
                {
                    _rows.Add(new StringBuilder());
                    _column = 0;
                }
                else if (c == '\u001b')
                {
                    Assert.Equal("[2K", output.Substring(i + 1, 3)); // the only sequence the view writes
                    row.Clear();
                    i += 3;
                }
                else
                {
                    while (row.Length < _column)
                    {
                        row.Append(' ');
                    }

                    if (_column < row.Length)
                    {
                        row[_column] = c;
                    }
                    else
                    {
                        row.Append(c);
                    }

                    _column++;
                }
            }
        }

        public string[] Rows => [.. _rows.Select(r => r.ToString())];
    }

    private static (TerminalChatView View, StringWriter Output) Create(int width = 80)
    {
        var output = new StringWriter();
        return (new TerminalChatView(output, () => width, s => s.Length), output);
    }

    private static string[] Show(StringWriter output)
    {
        var screen = new Screen();
        screen.Feed(output.ToString());
        return screen.Rows;
    }

    [Fact]
    public void Events_arriving_while_typing_print_above_one_prompt_and_a_sent_message_appears_once()
    {
        (TerminalChatView view, StringWriter output) = Create();
        view.Print("* logged in as me");
        view.SetPrompt("#general> ");
        view.ShowInput("");
        view.ShowInput("h");
        view.ShowInput("hi");
        view.Print("[#general] bob: hello");
        view.ShowInput("hi there");
        view.HideInput(); // Enter
        view.SetPrompt("#general> ");
        view.Print("[#general] me: hi there"); // the server's copy
        view.ShowInput("");
        view.Print("[#general] bob: welcome");

        Assert.Equal(
            ["* logged in as me", "[#general] bob: hello", "[#general] me: hi there", "[#general] bob: welcome", "#general> "],
            Show(output));
    }

    [Fact]
    public void Changing_the_prompt_redraws_it_in_place()
    {
        (TerminalChatView view, StringWriter output) = Create();
        view.ShowInput("draft");
        view.SetPrompt("(offline) #general> ");
        view.SetPrompt("#general> ");
        Assert.Equal(["#general> draft"], Show(output));
    }

    [Fact]
    public void A_line_longer_than_the_terminal_shows_its_end_on_one_row()
    {
        (TerminalChatView view, StringWriter output) = Create(width: 20);
        view.SetPrompt("> ");
        view.ShowInput("the quick brown fox jumps over the lazy dog");
        string[] rows = Show(output);
        Assert.Equal(["> …ver the lazy dog"], rows); // 20 columns less the prompt and one for the cursor
        Assert.True(rows[0].Length < 20);
    }

    [Fact]
    public void The_visible_end_never_cuts_a_character_in_half()
    {
        string visible = TerminalChatView.VisibleEnd("ab😀😀😀", 4, s => s.Length);
        Assert.Equal("…😀", visible);
    }

    [Theory]
    [InlineData("plain text", "plain text")]
    [InlineData("\u001b[2J\u001b]0;owned\u0007", "^[[2J^[]0;owned^G")]
    [InlineData("two\nlines\r", "two^Jlines^M")]
    [InlineData("c1\u009bcontrol\u007f", "c1\uFFFDcontrol^?")]
    public void Text_from_the_server_cannot_send_terminal_commands_or_forge_lines(string text, string shown)
    {
        Assert.Equal(shown, ChatView.Printable(text));
    }
}

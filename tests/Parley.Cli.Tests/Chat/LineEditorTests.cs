using System.Text;
using Parley.Cli.Chat;

namespace Parley.Cli.Tests.Chat;

public sealed class LineEditorTests
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Types text one UTF-16 unit per key, as the console delivers it (a surrogate pair is two keys).</summary>
    private static LineEditor Typed(string text, int maxChars = 1000)
    {
        var editor = new LineEditor(maxChars);
        foreach (char c in text)
        {
            editor.Apply(new ConsoleKeyInfo(c, default, shift: false, alt: false, control: false));
        }

        return editor;
    }

    private static readonly ConsoleKeyInfo BackspaceKey = new('\u007f', ConsoleKey.Backspace, false, false, false);

    [Theory]
    [InlineData("ok é", "ok ")] // 2 UTF-8 bytes
    [InlineData("ok 中", "ok ")] // 3 UTF-8 bytes
    [InlineData("ok 😀", "ok ")] // a surrogate pair, 4 UTF-8 bytes
    [InlineData("ok e\u0301", "ok ")] // e + combining acute: one character on screen
    [InlineData("ok 👍🏽", "ok ")] // thumbs up + skin tone modifier
    [InlineData("ok 👩‍👩‍👧", "ok ")] // a family joined by zero-width joiners
    [InlineData("ok 🇫🇷", "ok ")] // a flag: two regional indicators
    public void Backspace_removes_the_last_character_as_seen_whole_and_the_line_stays_valid_UTF8(string typed, string expected)
    {
        LineEditor editor = Typed(typed);
        Assert.Equal(typed, editor.Text);

        Assert.Equal(LineEdit.Changed, editor.Apply(BackspaceKey));

        Assert.Equal(expected, editor.Text);
        Assert.Equal(expected, StrictUtf8.GetString(StrictUtf8.GetBytes(editor.Submit())));
    }

    [Fact]
    public void Backspace_over_every_character_of_mixed_text_never_leaves_half_a_character()
    {
        LineEditor editor = Typed("aé中😀e\u0301👍🏽");
        int presses = 0;
        while (editor.Text.Length > 0)
        {
            Assert.Equal(LineEdit.Changed, editor.Apply(BackspaceKey));
            StrictUtf8.GetBytes(editor.Text); // throws on a lone surrogate
            presses++;
        }

        Assert.Equal(6, presses);
        Assert.Equal(LineEdit.None, editor.Apply(BackspaceKey));
    }

    [Fact]
    public void An_unpaired_surrogate_is_never_part_of_the_line()
    {
        var editor = new LineEditor(100);
        Assert.False(editor.Type('\uDC00')); // a low surrogate with no high one
        Assert.False(editor.Type('\uD83D')); // waits for its pair
        Assert.Equal("", editor.Text);
        Assert.True(editor.Type('x')); // the pair never came: the high surrogate is dropped
        Assert.Equal("x", editor.Text);
        StrictUtf8.GetBytes(editor.Text);
    }

    [Fact]
    public void Control_keys_edit_submit_and_end_the_input()
    {
        LineEditor editor = Typed("hello big world  ");
        Assert.Equal(LineEdit.Changed, editor.Apply(new ConsoleKeyInfo('\u0017', ConsoleKey.W, false, false, true))); // Ctrl-W
        Assert.Equal("hello big ", editor.Text);
        Assert.Equal(LineEdit.None, editor.Apply(new ConsoleKeyInfo('\u0004', ConsoleKey.D, false, false, true))); // Ctrl-D on text: nothing
        Assert.Equal(LineEdit.None, editor.Apply(new ConsoleKeyInfo('\u001b', ConsoleKey.Escape, false, false, false)));
        Assert.Equal(LineEdit.Submitted, editor.Apply(new ConsoleKeyInfo('\r', ConsoleKey.Enter, false, false, false)));
        Assert.Equal("hello big ", editor.Submit());
        Assert.Equal("", editor.Text);

        editor = Typed("gone");
        Assert.Equal(LineEdit.Changed, editor.Apply(new ConsoleKeyInfo('\u0015', ConsoleKey.U, false, false, true))); // Ctrl-U
        Assert.Equal("", editor.Text);
        Assert.Equal(LineEdit.EndOfInput, editor.Apply(new ConsoleKeyInfo('\u0004', ConsoleKey.D, false, false, true)));
    }

    [Fact]
    public void A_full_line_refuses_more_keys_and_never_takes_half_a_pair()
    {
        LineEditor editor = Typed("abc😀😀", maxChars: 4);
        Assert.Equal("abc", editor.Text); // the pair did not fit whole
        Assert.True(editor.Type('d'));
        Assert.False(editor.Type('e'));
        Assert.Equal("abcd", editor.Text);
    }
}

using System.Globalization;
using System.Text;

namespace Parley.Cli.Chat;

/// <summary>What a key did to the line being typed.</summary>
internal enum LineEdit
{
    /// <summary>Nothing changed (an ignored key, Backspace on an empty line, a full line).</summary>
    None,

    /// <summary>The text changed: redraw it.</summary>
    Changed,

    /// <summary>Enter: <see cref="LineEditor.Submit"/> takes the line.</summary>
    Submitted,

    /// <summary>Ctrl-D on an empty line: the user is done.</summary>
    EndOfInput,
}

/// <summary>
/// The line typed at the chat prompt, edited by whole characters as a person sees them.
/// </summary>
/// <remarks>
/// Keys arrive one UTF-16 unit at a time: a character outside the Basic Multilingual Plane (most
/// emoji) comes as a high then a low surrogate. The editor holds a high surrogate until its pair
/// arrives and drops an unpaired half, and Backspace removes the last text element whole (a
/// grapheme cluster: a surrogate pair, a letter with its combining marks, a joined emoji
/// sequence), so the text is always well-formed UTF-16 and encodes to valid UTF-8. Editing
/// byte by byte, or char by char, is what split characters before. Not thread-safe: one input
/// loop owns it.
/// </remarks>
internal sealed class LineEditor
{
    private readonly StringBuilder _text = new();
    private readonly int _maxChars;
    private char _highSurrogate;

    /// <param name="maxChars">Longest line in UTF-16 units; keys past it are refused. The server
    /// refuses long messages itself (4096 UTF-8 bytes by default); this bounds the client's memory.</param>
    public LineEditor(int maxChars)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxChars);
        _maxChars = maxChars;
    }

    /// <summary>The text so far (without a high surrogate still waiting for its pair).</summary>
    public string Text => _text.ToString();

    /// <summary>Applies one key.</summary>
    public LineEdit Apply(ConsoleKeyInfo key)
    {
        switch (key.Key)
        {
            case ConsoleKey.Enter:
                return LineEdit.Submitted;
            case ConsoleKey.Backspace:
                return Backspace() ? LineEdit.Changed : LineEdit.None;
        }

        return key.KeyChar switch
        {
            '\r' or '\n' => LineEdit.Submitted,
            '\b' or '\u007f' => Backspace() ? LineEdit.Changed : LineEdit.None,
            '\u0004' when _text.Length == 0 => LineEdit.EndOfInput, // Ctrl-D
            '\u0015' => Clear() ? LineEdit.Changed : LineEdit.None, // Ctrl-U
            '\u0017' => DeleteWord() ? LineEdit.Changed : LineEdit.None, // Ctrl-W
            _ => Type(key.KeyChar) ? LineEdit.Changed : LineEdit.None,
        };
    }

    /// <summary>Adds one typed UTF-16 unit; false when it is refused (a control character, an
    /// unpaired low surrogate, a full line) or waits for its pair (a high surrogate).</summary>
    public bool Type(char c)
    {
        if (char.IsHighSurrogate(c))
        {
            _highSurrogate = c; // an earlier high surrogate with no pair is dropped
            return false;
        }

        char high = _highSurrogate;
        _highSurrogate = '\0';
        if (char.IsLowSurrogate(c))
        {
            if (high == '\0' || _text.Length + 2 > _maxChars)
            {
                return false;
            }

            _text.Append(high).Append(c);
            return true;
        }

        if (char.IsControl(c) || _text.Length + 1 > _maxChars)
        {
            return false;
        }

        _text.Append(c);
        return true;
    }

    /// <summary>Removes the last text element (what one Backspace removes in a terminal); false on an empty line.</summary>
    public bool Backspace()
    {
        _highSurrogate = '\0';
        if (_text.Length == 0)
        {
            return false;
        }

        _text.Length = LastElementStart(_text.ToString());
        return true;
    }

    /// <summary>Ctrl-W: removes the word before the end and the spaces after it.</summary>
    public bool DeleteWord()
    {
        _highSurrogate = '\0';
        string text = _text.ToString();
        int end = text.Length;
        while (end > 0 && char.IsWhiteSpace(text[end - 1]))
        {
            end--;
        }

        while (end > 0)
        {
            int start = LastElementStart(text.AsSpan(0, end));
            if (char.IsWhiteSpace(text[start]))
            {
                break;
            }

            end = start;
        }

        if (end == text.Length)
        {
            return false;
        }

        _text.Length = end;
        return true;
    }

    /// <summary>Ctrl-U: empties the line; false when it was empty.</summary>
    public bool Clear()
    {
        _highSurrogate = '\0';
        bool had = _text.Length > 0;
        _text.Clear();
        return had;
    }

    /// <summary>Takes the typed line and starts an empty one.</summary>
    public string Submit()
    {
        string line = _text.ToString();
        Clear();
        return line;
    }

    private static int LastElementStart(ReadOnlySpan<char> text)
    {
        int start = 0;
        for (int i = 0; i < text.Length; i += StringInfo.GetNextTextElementLength(text[i..]))
        {
            start = i;
        }

        return start;
    }
}

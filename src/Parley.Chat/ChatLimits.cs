namespace Parley.Chat;

/// <summary>Name rules shared by rooms and users.</summary>
public static class ChatLimits
{
    /// <summary>Default longest room or user name, in characters.</summary>
    public const int DefaultMaxNameLength = 32;

    /// <summary>The longest room description, in characters: one room always fits a page of the room list.</summary>
    public const int MaxDescriptionLength = 1024;

    /// <summary>The most UTF-8 bytes a room or user name may take: a journal record stores each with a one-byte length.</summary>
    public const int MaxNameBytes = 255;

    /// <summary>Why <paramref name="name"/> is not a valid room or user name, or null when it is:
    /// 1 to <paramref name="maxLength"/> characters and at most <see cref="MaxNameBytes"/> UTF-8 bytes,
    /// letters, digits and <c>-_.</c> only.</summary>
    public static string? NameProblem(string name, int maxLength)
    {
        if (name.Length == 0)
        {
            return "is empty";
        }

        if (name.Length > maxLength)
        {
            return $"is longer than {maxLength} characters";
        }

        if (System.Text.Encoding.UTF8.GetByteCount(name) > MaxNameBytes)
        {
            return $"is longer than {MaxNameBytes} bytes in UTF-8 (a journal record's limit)";
        }

        foreach (char c in name)
        {
            if (!char.IsLetterOrDigit(c) && c is not ('-' or '_' or '.'))
            {
                return "may hold only letters, digits, '-', '_' and '.'";
            }
        }

        return null;
    }
}

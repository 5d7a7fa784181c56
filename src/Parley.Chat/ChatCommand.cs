namespace Parley.Chat;

/// <summary>
/// One command of the chat protocol, as <see cref="ChatCommandReader"/> reads it and
/// <see cref="ChatCommandWriter.Write"/> writes it. Fields a command does not use stay null.
/// </summary>
/// <param name="Type">Which command (<c>"_ct"</c>).</param>
/// <param name="Room"><c>r</c>: the room.</param>
/// <param name="Content"><c>c</c>: a message's text.</param>
/// <param name="User"><c>u</c>: the user logging in.</param>
/// <param name="Password"><c>p</c>: the password.</param>
/// <param name="Before"><c>before</c>: history older than this message id.</param>
/// <param name="Limit"><c>limit</c>: messages per history page.</param>
/// <param name="After"><c>after</c>: a list page starts after this name.</param>
/// <param name="Ref"><c>ref</c>: the client's own number for the command, echoed in its
/// <c>message_ack</c> or <c>error</c> so a pipelining client can tell which send it answers.</param>
public readonly record struct ChatCommand(
    ChatCommandType Type,
    string? Room = null,
    string? Content = null,
    string? User = null,
    string? Password = null,
    long? Before = null,
    int? Limit = null,
    string? After = null,
    long? Ref = null)
{
    /// <summary>The command's <c>"_ct"</c> tag.</summary>
    public string Name => ChatProtocol.CommandName(Type);
}

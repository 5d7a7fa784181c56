namespace Parley.Chat;

/// <summary>
/// A refused command, or a fault the server reports: the protocol's <c>error</c> event.
/// </summary>
/// <param name="Code">One of <see cref="ErrorCodes"/> (<c>code</c>); a client must accept codes it does not know.</param>
/// <param name="Message">A sentence for people (<c>message</c>).</param>
/// <param name="Command">The refused command's <c>"_ct"</c> (<c>ct</c>), when known.</param>
/// <param name="Ref">The refused command's <c>ref</c>, when it had one.</param>
public readonly record struct ChatError(string Code, string Message, string? Command = null, long? Ref = null)
{
    /// <summary><c>code: message</c>.</summary>
    public override string ToString() => $"{Code}: {Message}";
}

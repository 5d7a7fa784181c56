namespace Parley.Cli.Chat;

/// <summary>Where the chat client reads what the user types: whole lines, null at the end.</summary>
internal abstract class ChatInput
{
    /// <summary>The next line; null when input ended (end of file, Ctrl-D on an empty line).</summary>
    public abstract Task<string?> ReadLineAsync(CancellationToken cancellationToken);
}

/// <summary>Lines from standard input or any reader: scripts, pipes, a terminal in line mode.</summary>
/// <remarks>
/// <see cref="Console.In"/> reads synchronously even through <c>ReadLineAsync</c> and cannot be
/// cancelled, so each read runs on a pool thread: the session can end (the server is gone for
/// good) while a read waits for a line that may never come, and the process still exits.
/// </remarks>
internal sealed class ReaderChatInput(TextReader reader) : ChatInput
{
    public override Task<string?> ReadLineAsync(CancellationToken cancellationToken) => Task.Run(reader.ReadLine, cancellationToken);
}

namespace Parley.Cli.Chat;

/// <summary>Output for scripts and pipes: one line per event, flushed at once, no prompt and no terminal codes.</summary>
internal sealed class LineChatView(TextWriter output) : ChatView
{
    private readonly Lock _lock = new();

    public override void Print(string text)
    {
        lock (_lock)
        {
            output.WriteLine(text);
            output.Flush();
        }
    }
}

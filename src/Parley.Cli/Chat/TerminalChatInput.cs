using System.Threading.Channels;

namespace Parley.Cli.Chat;

/// <summary>
/// Keys from the console, edited into lines by a <see cref="LineEditor"/> and drawn by a
/// <see cref="TerminalChatView"/>.
/// </summary>
/// <remarks>
/// <see cref="Console.ReadKey(bool)"/> blocks its thread and cannot be cancelled, so one
/// background thread reads keys into a small bounded queue (a paste longer than the queue waits
/// in the terminal's own buffer) and the input loop awaits that queue. The thread dies with the
/// process; the runtime restores the terminal's modes at exit.
/// </remarks>
internal sealed class TerminalChatInput(TerminalChatView view) : ChatInput
{
    /// <summary>Longest line typed, in UTF-16 units: well past the server's default 4096-byte message limit, so the server's own refusal is what a user meets.</summary>
    private const int MaxLineChars = 16 * 1024;

    private readonly LineEditor _editor = new(MaxLineChars);
    private readonly Channel<ConsoleKeyInfo> _keys = Channel.CreateBounded<ConsoleKeyInfo>(
        new BoundedChannelOptions(1024) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });

    private Thread? _reader;

    public override async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        if (_reader is null)
        {
            _reader = new Thread(ReadKeys) { IsBackground = true, Name = "parley chat keys" };
            _reader.Start();
        }

        view.ShowInput(_editor.Text);
        try
        {
            while (true)
            {
                ConsoleKeyInfo key = await _keys.Reader.ReadAsync(cancellationToken);
                switch (_editor.Apply(key))
                {
                    case LineEdit.Changed:
                        view.ShowInput(_editor.Text);
                        break;
                    case LineEdit.Submitted:
                        view.HideInput();
                        return _editor.Submit();
                    case LineEdit.EndOfInput:
                        view.HideInput();
                        return null;
                }
            }
        }
        catch (ChannelClosedException)
        {
            view.HideInput();
            return null; // the console cannot be read any more
        }
    }

    private void ReadKeys()
    {
        try
        {
            while (true)
            {
                ConsoleKeyInfo key = Console.ReadKey(intercept: true);
                while (!_keys.Writer.TryWrite(key))
                {
                    _keys.Writer.WaitToWriteAsync().AsTask().GetAwaiter().GetResult();
                }
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException)
        {
            _keys.Writer.TryComplete(); // no console to read (input closed or redirected): end of input
        }
    }
}

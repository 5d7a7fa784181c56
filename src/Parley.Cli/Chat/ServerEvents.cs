using System.Buffers;
using System.Text.Json;

namespace Parley.Cli.Chat;

/// <summary>The events of one chat connection, one JSON object at a time.</summary>
internal sealed class ServerEvents(Connection connection) : IAsyncDisposable
{
    private readonly IAsyncEnumerator<ReadOnlySequence<byte>> _lines = connection.ReadMessagesAsync().GetAsyncEnumerator();

    public Connection Connection => connection;

    /// <summary>Why the stream ended early: the server sent a line that is not JSON (it is not a chat server); null otherwise.</summary>
    public string? NotJson { get; private set; }

    /// <summary>
    /// The next event, or null when the connection ended. The document points into the
    /// receive buffer: dispose it before asking for the next one.
    /// </summary>
    public async Task<JsonDocument?> NextAsync()
    {
        try
        {
            if (!await _lines.MoveNextAsync())
            {
                return null;
            }
        }
        catch (IOException)
        {
            return null; // a reset or a closed connection: the close reason says which
        }

        try
        {
            return JsonDocument.Parse(_lines.Current);
        }
        catch (JsonException ex)
        {
            NotJson = ex.Message;
            connection.Abort(CloseReason.ProtocolError);
            return null;
        }
    }

    public ValueTask DisposeAsync() => _lines.DisposeAsync();
}

using System.Buffers;

namespace Parley;

/// <summary>
/// Handles one received message. <paramref name="message"/> is valid only until the handler
/// returns (it points into the receive buffer, uncopied); copy what you keep. Handlers for one
/// connection run one at a time, in arrival order, on that connection's receive loop.
/// </summary>
public delegate void MessageHandler(Connection connection, ReadOnlySequence<byte> message);

/// <summary>
/// Runs one connection in the asynchronous model, typically
/// <c>await foreach (var message in connection.ReadMessagesAsync(cancellationToken))</c>.
/// When it returns, the connection is closed gracefully (queued sends are flushed).
/// </summary>
public delegate Task ConnectionHandler(Connection connection, CancellationToken cancellationToken);

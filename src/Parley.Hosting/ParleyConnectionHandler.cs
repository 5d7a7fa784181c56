namespace Parley.Hosting;

/// <summary>
/// What a hosted server does with each connection, as Kestrel's <c>ConnectionHandler</c> is: a
/// class resolved from dependency injection (its constructor takes what it needs), one instance
/// for the server. <see cref="OnConnectedAsync"/> runs once per connection; when it returns, the
/// connection is closed.
/// </summary>
public abstract class ParleyConnectionHandler
{
    /// <summary>Serves one connection: read with <see cref="Connection.ReadMessagesAsync"/>, send
    /// with <see cref="Connection.Send(ReadOnlySpan{byte})"/>.</summary>
    /// <param name="connection">The accepted connection.</param>
    /// <param name="cancellationToken">Cancelled when the connection closes or the host stops.</param>
    public abstract Task OnConnectedAsync(Connection connection, CancellationToken cancellationToken);
}

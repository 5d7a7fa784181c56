using Parley.WebSockets;
using System.Net;
using Spectre.Console;

namespace Parley.Bench;

/// <summary>Opens many client connections at a paced rate, so the server's listen backlog never overflows.</summary>
internal static class BenchClients
{
    /// <summary>Connects in flight at once: well under the server's default backlog of 512.</summary>
    private const int ConcurrentConnects = 64;

    /// <summary>Past this many clients, spread them over several 127.0.0.x source addresses (each has its own ephemeral ports).</summary>
    private const int ClientsPerSourceAddress = 20_000;

    /// <summary>Opens <paramref name="count"/> connections with <paramref name="connect"/>, given each one's index and source address.</summary>
    public static async Task<(List<T> Clients, int Failures, double PerSecond)> ConnectAsync<T>(
        IPEndPoint server, int count, Func<int, IPEndPoint?, CancellationToken, Task<T>> connect, IAnsiConsole console, CancellationToken cancellationToken)
        where T : class
    {
        var clients = new T?[count];
        int failures = 0;
        int connected = 0;
        using var gate = new SemaphoreSlim(ConcurrentConnects);
        long started = Environment.TickCount64;
        var tasks = new List<Task>(count);
        for (int i = 0; i < count; i++)
        {
            await gate.WaitAsync(cancellationToken);
            int index = i;
            tasks.Add(Task.Run(
                async () =>
                {
                    try
                    {
                        clients[index] = await connect(index, SourceAddress(server, index), cancellationToken);
                        Interlocked.Increment(ref connected);
                    }
                    catch (Exception ex) when (ex is System.Net.Sockets.SocketException or TimeoutException or System.Security.Authentication.AuthenticationException or IOException)
                    {
                        if (Interlocked.Increment(ref failures) <= 5)
                        {
                            console.MarkupLineInterpolated($"[yellow]connect {index} failed: {ex.Message}[/]");
                        }
                    }
                    finally
                    {
                        gate.Release();
                    }
                },
                cancellationToken));
        }

        await Task.WhenAll(tasks);
        double seconds = Math.Max(0.001, (Environment.TickCount64 - started) / 1000.0);
        return ([.. clients.Where(c => c is not null).Select(c => c!)], failures, connected / seconds);
    }

    private static IPEndPoint? SourceAddress(IPEndPoint server, int index)
    {
        if (!IPAddress.IsLoopback(server.Address) || server.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            return null;
        }

        int block = index / ClientsPerSourceAddress;
        return block == 0 ? null : new IPEndPoint(new IPAddress([127, 0, 0, (byte)(1 + block)]), 0);
    }

    /// <summary>The error for clients that could not connect; when none could, with the likely cause.</summary>
    public static InvalidOperationException ConnectFailed(int failures, int wanted, ServerUnderTest server, string workload) =>
        new($"{failures} of {wanted} clients could not connect{(failures == wanted ? $": {server.Hint(workload)}" : "")}");

    /// <summary>Connect timeout for every bench connection.</summary>
    public static TimeSpan ConnectTimeout { get; } = TimeSpan.FromSeconds(20);

    /// <summary>The client settings for one bench connection to <paramref name="server"/>: its TLS
    /// (pinned to the certificate the bench made, or checked as <c>--insecure</c> says) and compression.</summary>
    public static ParleyClientOptions ClientOptions(ServerUnderTest server, IPEndPoint? local, int index = -1)
    {
        string? pinned = server.CertificateHash;
        ParleyClientOptions options = new()
        {
            RemoteEndPoint = server.EndPointFor(index),
            LocalEndPoint = local,
            ConnectTimeout = ConnectTimeout,
            Middleware = server.Compression is { } compression ? [compression] : [],
            Tls = server.Tls
                ? new TlsClientOptions
                {
                    TargetHost = "localhost",

                    // The bench made the server's certificate itself: trust exactly that one. Against
                    // --target: the platform's validation, or anything with --insecure.
                    ServerCertificateValidation = (_, certificate, _, errors) =>
                        pinned is not null ? certificate?.GetCertHashString() == pinned : server.Insecure || errors == System.Net.Security.SslPolicyErrors.None,
                }
                : null,
        };
        if (server.WebSocket is { } uri)
        {
            // The upgrade, and TLS under it, are the dialer's; the framer writes masked client frames.
            WebSocketOptions webSocket = WebSocketClientOptions(binary: !server.Chat && !server.SignalR);
            options.Dialer = new WebSocketDialer(uri, webSocket, options.Tls, new SocketConnectionDialer(server.DialEndPoint, local));
            options.Framer = webSocket.CreateFramer(isClient: true);
            options.Tls = null;
        }

        return options;
    }

    /// <summary>WebSocket settings of bench clients: binary for the echo server, text for chat.</summary>
    public static WebSocketOptions WebSocketClientOptions(bool binary) => new()
    {
        MaxMessageSize = binary ? LengthPrefixedFramer.DefaultMaxMessageSize : Parley.Chat.ChatProtocol.DefaultMaxEventBytes,
        MaxOutgoingMessageSize = binary ? LengthPrefixedFramer.DefaultMaxMessageSize : Parley.Chat.ChatProtocol.DefaultMaxCommandBytes,
        MessageType = binary ? WebSocketMessageType.Binary : WebSocketMessageType.Text,
    };

    /// <summary>Connects a <see cref="ParleyClient"/> (the idle-connections workload holds these: they keep themselves alive).</summary>
    public static async Task<ParleyClient> ConnectParleyClientAsync(ServerUnderTest server, IPEndPoint? local, Action<ParleyClient> configure, CancellationToken cancellationToken)
    {
        var client = new ParleyClient(ClientOptions(server, local));
        configure(client);
        try
        {
            await client.ConnectAsync(cancellationToken);
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    public static async Task CloseAllAsync(IEnumerable<IAsyncDisposable> clients)
    {
        await Task.WhenAll(clients.Select(client => client.DisposeAsync().AsTask()));
    }
}

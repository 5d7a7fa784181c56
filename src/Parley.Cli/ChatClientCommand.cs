using System.CommandLine;
using System.Net.Sockets;
using System.Security.Authentication;
using Parley.Cli.Chat;

namespace Parley.Cli;

/// <summary><c>parley chat</c>: a terminal client for <c>parley serve</c>.</summary>
internal static class ChatClientCommand
{
    /// <summary>Longest line accepted from the server. A server's events are at most its
    /// MaxEventBytes (1 MiB by default, more when it allows longer messages); this client trusts
    /// the server it chose, so it takes up to 16 MiB.</summary>
    private const int MaxEventBytes = 16 * 1024 * 1024;

    public static Command Create()
    {
        var host = new Option<string>("--host") { Description = "The server: a host name (resolved at each connect; TLS checks the certificate against it) or an IP address.", DefaultValueFactory = _ => "127.0.0.1" };
        Option<int> port = new Option<int>("--port", "-p") { Description = "Server port (1 to 65535).", DefaultValueFactory = _ => 8080 }.Range(1, System.Net.IPEndPoint.MaxPort, "");
        var user = new Option<string?>("--user", "-u") { Description = "Account on a server started with --auth required (asked for when missing). An open server names each connection itself, so --user is refused there." };
        var tls = new Option<bool>("--tls") { Description = "Connect with TLS (the server runs with --tls-cert); its certificate must be trusted and name --host." };
        var tlsCa = new Option<string?>("--tls-ca") { Description = "With --tls: trust server certificates issued by this certificate (PEM, DER or PFX; e.g. the one 'parley cert create' wrote) instead of the system's roots. The name is still checked." };
        var insecure = new Option<bool>("--insecure") { Description = "With --tls: accept any server certificate (a self-signed development one). Never in production." };
        Option<int> reconnect = new Option<int>("--reconnect-attempts")
        {
            Description = $"After the connection is lost, tries to get it back this many times (1 s, 2 s, 4 s, … apart, at most 16 s), then exits with code 1. 0: exit at once. At most {ReconnectSchedule.MaxAttempts}.",
            DefaultValueFactory = _ => ReconnectSchedule.DefaultAttempts,
        }.Range(0, ReconnectSchedule.MaxAttempts, "");
        host.Validators.Add(result =>
        {
            if (!ChatServerAddress.TryParse(result.GetValueOrDefault<string>() ?? "", 0, out _, out string? error))
            {
                result.AddError(error);
            }
        });
        var servers = new Option<string?>("--servers")
        {
            Description = "Several servers, HOST:PORT separated by commas (the nodes of a cluster: 'parley serve --cluster'), instead of --host/--port. " +
                "It connects to the first that answers; after a lost connection it tries the same one first, then the others in turn.",
        };
        servers.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is { } text && !ChatServerAddress.TryParseList(text, out _, out string? error))
            {
                result.AddError(error);
            }
        });
        var transport = new Option<string>("--transport") { Description = "tcp: connect to --host/--port. ipc: shared memory to a server on this machine ('parley serve --transport ipc'), by --name.", DefaultValueFactory = _ => "tcp" };
        transport.AcceptOnlyFromAmong("tcp", "ipc");
        Option<string> ipcName = CommonOptions.IpcName("chat", "--transport ipc: the server's name.");
        var command = new Command(
            "chat",
            "Chat with a 'parley serve' server. Type text to send it to the current room; /join R, /leave R, /room R, /rooms, /who R, /history R [N], /help, /quit. " +
            "A lost connection is re-established (--reconnect-attempts), rejoining rooms and showing what was missed. " +
            "With standard input redirected it reads commands line by line (a server requiring login takes the password from the first line) and prints one line per event.")
        {
            host, port, servers, transport, ipcName, user, tls, tlsCa, insecure, reconnect,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            string? ipc = parse.GetValue(transport) == "ipc" ? parse.GetValue(ipcName) : null;
            bool useTls = parse.GetValue(tls);
            if (ipc is not null && useTls)
            {
                await Console.Error.WriteLineAsync("parley chat: --transport ipc takes no --tls (shared memory never leaves the machine).");
                return 2;
            }

            string? caPath = parse.GetValue(tlsCa);
            if (caPath is not null && (!useTls || parse.GetValue(insecure)))
            {
                await Console.Error.WriteLineAsync("parley chat: --tls-ca needs --tls, and means nothing with --insecure.");
                return 2;
            }

            ChatServerTrust? trust = null;
            if (caPath is not null && !ChatServerTrust.TryLoad(caPath, out trust, out string? caError))
            {
                await Console.Error.WriteLineAsync($"parley chat: {caError}");
                return 2;
            }

            using (trust)
            {
                if (!ChatServerAddress.TryParse(parse.GetValue(host)!, parse.GetValue(port), out ChatServerAddress? address, out string? error))
                {
                    await Console.Error.WriteLineAsync($"parley chat: {error}");
                    return 2;
                }

                IReadOnlyList<ChatServerAddress> addresses = [address];
                if (parse.GetValue(servers) is { } list)
                {
                    if (ipc is not null)
                    {
                        await Console.Error.WriteLineAsync("parley chat: --servers is for TCP; --transport ipc takes --name.");
                        return 2;
                    }

                    if (!ChatServerAddress.TryParseList(list, out IReadOnlyList<ChatServerAddress>? parsed, out string? listError))
                    {
                        await Console.Error.WriteLineAsync($"parley chat: {listError}");
                        return 2;
                    }

                    addresses = parsed;
                }

                ParleyClientOptions[] options = [.. addresses.Select(a => CreateClientOptions(a, ipc, useTls, parse.GetValue(insecure), trust))];
                var failover = new Failover(options);
                ChatClientSettings? current = null;
                failover.Connected = index => current!.Target = addresses[index].ToString();
                bool lineMode = Console.IsInputRedirected || Console.IsOutputRedirected;
                var settings = new ChatClientSettings
                {
                    Target = ipc is null ? string.Join(",", addresses) : $"ipc:{ipc}",
                    Connect = token => failover.ConnectAsync(trust, token),
                    User = parse.GetValue(user),
                    LineMode = lineMode,
                    ReconnectAttempts = parse.GetValue(reconnect),
                };
                current = settings;
                ChatView view;
                ChatInput input;
                if (lineMode)
                {
                    view = new LineChatView(Console.Out);
                    input = new ReaderChatInput(Console.In);
                }
                else
                {
                    TerminalChatView terminal = TerminalChatView.ForConsole();
                    view = terminal;
                    input = new TerminalChatInput(terminal);
                }

                using var session = new ChatClientSession(settings, view, input);
                return await session.RunAsync(cancellationToken);
            }
        });
        return command;
    }

    /// <summary>The client settings for one server: by name or address over TCP (TLS checked against the name given), or shared memory.</summary>
    internal static ParleyClientOptions CreateClientOptions(ChatServerAddress address, string? ipc, bool tls, bool insecure, ChatServerTrust? trust) => new()
    {
        RemoteEndPoint = ipc is null ? address.EndPoint : null,
        Dialer = ipc is null ? null : new Parley.Ipc.IpcConnectionDialer(ipc),
        Framer = new LineFramer(MaxEventBytes),
        IdleTimeout = Timeout.InfiniteTimeSpan,
        KeepAliveInterval = Timeout.InfiniteTimeSpan,
        TcpKeepAlive = ipc is null,
        Tls = tls
            ? new TlsClientOptions
            {
                TargetHost = address.TlsTargetHost,
                AllowUntrustedServerCertificate = insecure,
                ServerCertificateValidation = trust is null ? null : trust.Validate,
            }
            : null,
    };

    /// <summary>
    /// Connects to one of several servers: the one that answered last time first, then the others
    /// in turn. A lost connection therefore moves on to the next node when its own is gone.
    /// </summary>
    internal sealed class Failover(IReadOnlyList<ParleyClientOptions> servers)
    {
        private int _current;

        /// <summary>Told which server answered (its index), when there are several.</summary>
        public Action<int>? Connected { get; set; }

        public async Task<ConnectResult> ConnectAsync(ChatServerTrust? trust, CancellationToken cancellationToken)
        {
            ConnectResult result = default;
            for (int tried = 0; tried < servers.Count; tried++)
            {
                int index = (_current + tried) % servers.Count;
                result = await ChatClientCommand.ConnectAsync(servers[index], trust, cancellationToken);
                if (result.Connection is not null)
                {
                    _current = index;
                    if (servers.Count > 1)
                    {
                        Connected?.Invoke(index);
                    }

                    return result;
                }
            }

            // None answered: the next round starts with the one after the last that did.
            _current = (_current + 1) % servers.Count;
            return result;
        }
    }

    private static async Task<ConnectResult> ConnectAsync(ParleyClientOptions options, ChatServerTrust? trust, CancellationToken cancellationToken)
    {
        trust?.LastRefusal = null;
        try
        {
            return new ConnectResult(await ParleyClient.OpenConnectionAsync(options, cancellationToken), null);
        }
        catch (AuthenticationException ex)
        {
            return new ConnectResult(null, trust?.LastRefusal is { } refusal ? $"TLS: {refusal}" : ex.Message);
        }
        catch (Exception ex) when (ex is SocketException or TimeoutException or IOException or Parley.Ipc.IpcException)
        {
            return new ConnectResult(null, ex.Message);
        }
    }
}

using System.Buffers;
using System.CommandLine;
using System.Net;
using System.Text;
using System.Text.Json;
using Spectre.Console;

namespace Parley.Cli;

/// <summary><c>parley chat</c>: a terminal client for <c>parley serve</c>.</summary>
internal static class ChatClientCommand
{
    public static Command Create()
    {
        var host = new Option<string>("--host") { Description = "Server address.", DefaultValueFactory = _ => "127.0.0.1" };
        Option<int> port = new Option<int>("--port", "-p") { Description = "Server port (1 to 65535).", DefaultValueFactory = _ => 8080 }.Range(1, IPEndPoint.MaxPort, "");
        var user = new Option<string?>("--user", "-u") { Description = "User name, for a server that requires login (asked for when missing)." };
        var tls = new Option<bool>("--tls") { Description = "Connect with TLS (the server runs with --tls-cert); its certificate must be trusted and name --host." };
        var insecure = new Option<bool>("--insecure") { Description = "With --tls: accept any server certificate (a self-signed development one). Never in production." };
        var transport = new Option<string>("--transport") { Description = "tcp: connect to --host/--port. ipc: shared memory to a server on this machine ('parley serve --transport ipc'), by --name.", DefaultValueFactory = _ => "tcp" };
        transport.AcceptOnlyFromAmong("tcp", "ipc");
        Option<string> ipcName = CommonOptions.IpcName("chat", "--transport ipc: the server's name.");
        var command = new Command(
            "chat",
            "Chat with a 'parley serve' server. Type text to send it to the current room; /join R, /leave R, /rooms, /who R, /history R [N], /help, /quit. " +
            "With standard input redirected it reads commands line by line (a server requiring login takes the password from the first line) and prints one line per event.")
        {
            host, port, transport, ipcName, user, tls, insecure,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            string? ipc = parse.GetValue(transport) == "ipc" ? parse.GetValue(ipcName) : null;
            if (ipc is not null && parse.GetValue(tls))
            {
                await Console.Error.WriteLineAsync("parley chat: --transport ipc takes no --tls (shared memory never leaves the machine).");
                return 2;
            }

            string hostName = parse.GetValue(host)!;
            IPAddress? address = hostName == "localhost" ? IPAddress.Loopback : IPAddress.TryParse(hostName, out IPAddress? parsed) ? parsed : null;
            if (address is null && ipc is null)
            {
                await Console.Error.WriteLineAsync($"parley chat: --host '{hostName}' is not an IP address");
                return 2;
            }

            var endPoint = new IPEndPoint(address ?? IPAddress.Loopback, parse.GetValue(port));
            string target = ipc is null ? endPoint.ToString() : $"ipc:{ipc}";
            Connection connection;
            try
            {
                connection = await ParleyClient.OpenConnectionAsync(
                    new ParleyClientOptions
                    {
                        RemoteEndPoint = ipc is null ? endPoint : null,
                        Dialer = ipc is null ? null : new Parley.Ipc.IpcConnectionDialer(ipc),
                        Framer = new LineFramer(1024 * 1024),
                        IdleTimeout = Timeout.InfiniteTimeSpan,
                        KeepAliveInterval = Timeout.InfiniteTimeSpan,
                        TcpKeepAlive = ipc is null,
                        Tls = parse.GetValue(tls) ? new TlsClientOptions { AllowUntrustedServerCertificate = parse.GetValue(insecure) } : null,
                    },
                    cancellationToken);
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or TimeoutException or System.Security.Authentication.AuthenticationException or IOException or Parley.Ipc.IpcException)
            {
                await Console.Error.WriteLineAsync($"parley chat: cannot connect to {target}: {ex.Message}");
                return 1;
            }

            await using (connection)
            {
                var session = new ChatClientSession(connection, parse.GetValue(user), Console.IsInputRedirected);
                return await session.RunAsync(cancellationToken);
            }
        });
        return command;
    }
}

/// <summary>One chat session in a terminal or a pipe.</summary>
internal sealed class ChatClientSession(Connection connection, string? user, bool piped)
{
    private readonly Lock _console = new();
    private readonly StringBuilder _typed = new();
    private readonly TaskCompletionSource<bool> _loggedIn = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private string? _room;
    private int _unacknowledged;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        Task reading = ReadEventsAsync();
        TextReader? input = piped ? Console.In : null;

        // An open server greets at once; one requiring login stays silent until asked.
        if (await Task.WhenAny(_loggedIn.Task, Task.Delay(TimeSpan.FromSeconds(1), cancellationToken)) != _loggedIn.Task)
        {
            string name = user ?? (piped ? "" : AnsiConsole.Prompt(new TextPrompt<string>("user:")));
            string? password = piped
                ? await input!.ReadLineAsync(cancellationToken)
                : AnsiConsole.Prompt(new TextPrompt<string>("password:").Secret());
            Send(new { _ct = "login", u = name, p = password ?? "" });
            if (!await _loggedIn.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken))
            {
                return 1;
            }
        }

        if (!piped)
        {
            Print("type /help for commands");
        }

        while (connection.State == ConnectionState.Open)
        {
            string? line = piped ? await input!.ReadLineAsync(cancellationToken) : await ReadLineInteractiveAsync(cancellationToken);
            if (line is null)
            {
                break;
            }

            if (!Handle(line.Trim()))
            {
                break;
            }
        }

        // Scripts: let what was sent be acknowledged before leaving.
        for (int i = 0; i < 100 && Volatile.Read(ref _unacknowledged) > 0 && connection.State == ConnectionState.Open; i++)
        {
            await Task.Delay(50, cancellationToken);
        }

        Send(new { _ct = "quit" });
        await reading.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return 0;
    }

    /// <summary>Acts on one typed line; false to quit.</summary>
    private bool Handle(string line)
    {
        if (line.Length == 0)
        {
            return true;
        }

        if (!line.StartsWith('/'))
        {
            if (_room is null)
            {
                Print("join a room first: /join general (or /rooms)");
                return true;
            }

            Interlocked.Increment(ref _unacknowledged);
            Send(new { _ct = "send_message", r = _room, c = line });
            return true;
        }

        string[] words = line.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
        string? argument = words.Length > 1 ? words[1] : null;
        switch (words[0])
        {
            case "/quit" or "/exit":
                return false;
            case "/join" when argument is not null:
                _room = argument;
                Send(new { _ct = "join_room", r = argument });
                break;
            case "/leave" when argument is not null || _room is not null:
                Send(new { _ct = "leave_room", r = argument ?? _room });
                if ((argument ?? _room) == _room)
                {
                    _room = null;
                }

                break;
            case "/rooms":
                Send(new { _ct = "list_rooms" });
                break;
            case "/who" when argument is not null || _room is not null:
                Send(new { _ct = "list_users", r = argument ?? _room });
                break;
            case "/history" when argument is not null || _room is not null:
                int limit = words.Length > 2 && int.TryParse(words[2], out int n) ? n : 20;
                Send(new { _ct = "history", r = argument ?? _room, limit });
                break;
            case "/room" when argument is not null:
                _room = argument;
                Print($"now sending to #{_room}");
                break;
            default:
                Print("commands: /join ROOM, /leave [ROOM], /room ROOM (switch), /rooms, /who [ROOM], /history [ROOM] [N], /quit; any other text goes to the current room");
                break;
        }

        return true;
    }

    private void Send(object command) => connection.Send(JsonSerializer.SerializeToUtf8Bytes(command));

    private async Task ReadEventsAsync()
    {
        try
        {
            await foreach (ReadOnlySequence<byte> line in connection.ReadMessagesAsync())
            {
                using JsonDocument document = JsonDocument.Parse(line);
                string? text = Describe(document.RootElement);
                if (text is not null)
                {
                    Print(text);
                }
            }
        }
        catch (JsonException ex)
        {
            Print($"! the server sent something that is not JSON: {ex.Message}");
        }
        finally
        {
            _loggedIn.TrySetResult(false);
            Print($"* disconnected ({connection.CloseReason})");
        }
    }

    /// <summary>One event as a line for people; null for events that need no line.</summary>
    private string? Describe(JsonElement e)
    {
        static string S(JsonElement e, string name) => e.TryGetProperty(name, out JsonElement v) ? v.ToString() : "";
        switch (S(e, "_et"))
        {
            case "login_successful":
                _loggedIn.TrySetResult(true);
                return $"* logged in as {S(e, "u")}; rooms: {string.Join(", ", e.GetProperty("rs").EnumerateArray().Select(r => S(r, "n")))}";
            case "user_joined_room":
                return $"* you joined #{S(e, "r")} (here: {string.Join(", ", e.GetProperty("us").EnumerateArray().Select(u => u.GetString()))})";
            case "room_participation":
                return $"* {S(e, "u")} {S(e, "s")} #{S(e, "r")}";
            case "user_message":
                return $"[#{S(e, "r")}] {S(e, "u")}: {S(e, "c")}";
            case "message_ack":
                Interlocked.Decrement(ref _unacknowledged);
                return piped ? $"* stored #{S(e, "r")} id {S(e, "id")}" : null;
            case "rooms":
                return string.Join(Environment.NewLine, e.GetProperty("rs").EnumerateArray().Select(r => $"  #{S(r, "n")} ({S(r, "m")} here): {S(r, "d")}"));
            case "room_users":
                return $"* in #{S(e, "r")}: {string.Join(", ", e.GetProperty("us").EnumerateArray().Select(u => u.GetString()))}";
            case "history":
                var lines = e.GetProperty("ms").EnumerateArray()
                    .Select(m => $"  [#{S(e, "r")} {(m.GetProperty("t").GetDateTimeOffset().ToLocalTime()):yyyy-MM-dd HH:mm:ss}] {S(m, "u")}: {S(m, "c")}")
                    .ToList();
                return lines.Count == 0 ? $"* no history in #{S(e, "r")}" : string.Join(Environment.NewLine, lines);
            case "error":
                if (S(e, "ct") == "send_message")
                {
                    Interlocked.Decrement(ref _unacknowledged);
                }

                if (S(e, "code") == "login_failed" || S(e, "code") == "throttled")
                {
                    _loggedIn.TrySetResult(false);
                }

                return $"! {S(e, "code")}: {S(e, "message")}";
            case "pong":
                return null;
            default:
                return $"? {e}";
        }
    }

    /// <summary>Prints above the line being typed, then redraws it, so arriving messages never garble the input.</summary>
    private void Print(string text)
    {
        lock (_console)
        {
            if (piped || Console.IsOutputRedirected)
            {
                // No terminal to redraw on: plain lines, no escape codes.
                Console.Out.WriteLine(text);
                Console.Out.Flush();
                return;
            }

            Console.Write("\r\u001b[2K");
            Console.WriteLine(text);
            Console.Write(Prompt + _typed);
        }
    }

    private string Prompt => _room is null ? "> " : $"#{_room}> ";

    private async Task<string?> ReadLineInteractiveAsync(CancellationToken cancellationToken)
    {
        lock (_console)
        {
            _typed.Clear();
            Console.Write(Prompt);
        }

        while (!cancellationToken.IsCancellationRequested && connection.State == ConnectionState.Open)
        {
            if (!Console.KeyAvailable)
            {
                await Task.Delay(15, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }

            ConsoleKeyInfo key = Console.ReadKey(intercept: true);
            lock (_console)
            {
                switch (key.Key)
                {
                    case ConsoleKey.Enter:
                        string line = _typed.ToString();
                        _typed.Clear();
                        Console.WriteLine();
                        return line;
                    case ConsoleKey.Backspace when _typed.Length > 0:
                        _typed.Length--;
                        Console.Write("\b \b");
                        break;
                    default:
                        if (key.KeyChar == '\u0004' && _typed.Length == 0)
                        {
                            return null; // Ctrl-D on an empty line
                        }

                        if (!char.IsControl(key.KeyChar))
                        {
                            _typed.Append(key.KeyChar);
                            Console.Write(key.KeyChar);
                        }

                        break;
                }
            }
        }

        return null;
    }
}

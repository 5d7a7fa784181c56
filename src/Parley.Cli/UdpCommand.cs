using System.CommandLine;
using System.Diagnostics;
using System.Net;
using Parley.Udp;
using Parley.Udp.Objects;

namespace Parley.Cli;

/// <summary><c>parley udp receive|send</c>: large objects over the reliable UDP protocol, with resume.</summary>
internal static class UdpCommand
{
    public static Command Create()
    {
        var command = new Command("udp", "Send and receive files over Parley's reliable UDP protocol (blocks at offsets, progress, resume of an interrupted transfer).");
        command.Subcommands.Add(Receive());
        command.Subcommands.Add(Send());
        return command;
    }

    private static Command Receive()
    {
        Option<string> host = CommonOptions.Host();
        Option<int> port = CommonOptions.Port(7003);
        var folder = new Option<string>("--folder") { Description = "Where received files go (name.part and name.part.blocks while incomplete).", DefaultValueFactory = _ => "." };
        var command = new Command("receive", "Receive files into a folder until Ctrl-C.") { host, port, folder };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var endPoint = new IPEndPoint(CommonOptions.ParseHost(parse.GetValue(host)!), parse.GetValue(port));
            await using UdpHost udp = UdpHost.Start(endPoint);
            await using var receiver = new ObjectReceiver(udp, parse.GetValue(folder)!);
            receiver.Completed += (peer, path, length) => Console.WriteLine($"received {path} ({length:N0} bytes) from {peer.RemoteEndPoint}");
            Console.WriteLine($"parley udp receive listening on udp {udp.LocalEndPoint}, into {Path.GetFullPath(parse.GetValue(folder)!)}; Ctrl-C stops.");
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                // Ctrl-C: incomplete files keep their .part and .blocks for a resume
            }

            return 0;
        });
        return command;
    }

    private static Command Send()
    {
        var file = new Argument<string>("file") { Description = "The file to send." };
        var to = new Option<string>("--to") { Description = "host:port of a 'parley udp receive'.", Required = true };
        var name = new Option<string?>("--name") { Description = "The name on the receiving side (default: the file's name)." };
        var command = new Command("send", "Send a file; run it again after an interruption and only the missing blocks go.") { file, to, name };
        command.SetAction(async (parse, cancellationToken) =>
        {
            string path = parse.GetValue(file)!;
            if (!Parley.Bench.ServerUnderTest.TryParseTarget(parse.GetValue(to)!, out IPEndPoint? target))
            {
                await Console.Error.WriteLineAsync($"parley udp send: --to: '{parse.GetValue(to)}' is not host:port.");
                return 2;
            }

            if (!File.Exists(path))
            {
                await Console.Error.WriteLineAsync($"parley udp send: {path}: no such file.");
                return 2;
            }

            await using UdpHost udp = UdpHost.Start(new IPEndPoint(target.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0));
            try
            {
                UdpPeer peer = await udp.ConnectAsync(target, cancellationToken);
                await using FileStream source = File.OpenRead(path);
                var clock = Stopwatch.StartNew();
                int resumed = 0;
                long shown = -1;
                var progress = new Progress<ObjectProgress>(p =>
                {
                    resumed = p.BlocksResumed;
                    long percent = p.BytesDone * 100 / Math.Max(1, p.Length);
                    if (percent != shown && !Console.IsErrorRedirected)
                    {
                        shown = percent;
                        Console.Error.Write($"\r{percent,3} % of {p.Length:N0} bytes");
                    }
                });
                long sent = await peer.SendObjectAsync(source, parse.GetValue(name) ?? Path.GetFileName(path), source.Length, progress: progress, cancellationToken: cancellationToken);
                if (shown >= 0)
                {
                    Console.Error.WriteLine();
                }

                Console.WriteLine($"sent {sent:N0} bytes of {source.Length:N0}{(resumed > 0 ? $" ({resumed} blocks were already there)" : "")} in {clock.Elapsed.TotalSeconds:0.00} s ({sent / 1048576.0 / clock.Elapsed.TotalSeconds:0.0} MiB/s)");
                peer.Disconnect();
                return 0;
            }
            catch (Exception e) when (e is UdpConnectException or UdpObjectTransferException)
            {
                await Console.Error.WriteLineAsync($"parley udp send: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}

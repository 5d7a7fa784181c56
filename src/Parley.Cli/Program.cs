using System.CommandLine;
using Parley.Cli;

var root = new RootCommand("parley: a high-performance messaging stack for .NET — servers, clients and benchmarks.")
{
    ServeCommand.Create(),
    ChatClientCommand.Create(),
    UsersCommand.Create(),
    JournalCommand.Create(),
    EchoCommand.Create(),
    CertCommand.Create(),
    UdpCommand.Create(),
    Parley.Cli.Bench.BenchCommand.Create(),
};

// Ctrl-C / SIGTERM cancel the command's token; give the server time to flush and close.
var configuration = new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(15) };
return await root.Parse(args).InvokeAsync(configuration);

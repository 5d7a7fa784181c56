using System.CommandLine;

namespace Parley.Cli;

/// <summary>The <c>parley</c> root command with every subcommand (built here so tests can walk the whole tree).</summary>
internal static class ParleyCommand
{
    public static RootCommand Create() => new("parley: a high-performance messaging stack for .NET — servers, clients and benchmarks.")
    {
        ServeCommand.Create(),
        ClusterCommand.Create(),
        ChatClientCommand.Create(),
        UsersCommand.Create(),
        JournalCommand.Create(),
        EchoCommand.Create(),
        HttpCommand.Create(),
        CertCommand.Create(),
        UdpCommand.Create(),
        Bench.BenchCommand.Create(),
    };
}

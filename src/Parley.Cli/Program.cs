using System.CommandLine;
using Parley.Cli;

RootCommand root = ParleyCommand.Create();

// Ctrl-C / SIGTERM cancel the command's token; give the server time to flush and close.
var configuration = new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(15) };
return await root.Parse(args).InvokeAsync(configuration);

using System.CommandLine;
using Parley.Cli;

// Before anything starts the thread pool: serve's workers sleep instead of spinning (see the type).
ServeRuntimeTuning.Apply(args);

RootCommand root = ParleyCommand.Create();

// Every AnsiConsole.Console use (prompts, tables) follows the same rule: no escape codes unless a terminal, and none with NO_COLOR.
Spectre.Console.AnsiConsole.Console = Terminal.Create();

// Ctrl-C / SIGTERM cancel the command's token; give the server time to flush and close.
var configuration = new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(15), EnableDefaultExceptionHandler = false };
// Settings the command line leaves out come from PARLEY_* variables and the --config file (see the type).
CommandSettings.Resolved resolved = CommandSettings.Resolve(root, args, Environment.GetEnvironmentVariables());
if (resolved.Error is { } error)
{
    await Console.Error.WriteLineAsync(error);
    return 2;
}

if (resolved.PrintConfig)
{
    CommandSettings.Print(resolved, Console.Out);
    return 0;
}

bool stopAsked = false;
using var onInterrupt = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, _ => stopAsked = true);
using var onTerminate = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, _ => stopAsked = true);
try
{
    return await resolved.Parse.InvokeAsync(configuration);
}
catch (OperationCanceledException) when (stopAsked)
{
    // Ctrl-C or SIGTERM while a server was still starting (opening its journal, joining its
    // cluster): what had started was closed on the way out; a stop asked for is a success.
    return 0;
}
catch (Exception ex)
{
    // As System.CommandLine's own handler would: the error, and exit code 1.
    await Console.Error.WriteLineAsync($"Unhandled exception: {ex}");
    return 1;
}

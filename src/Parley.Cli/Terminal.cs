using Microsoft.Extensions.Logging.Console;
using Spectre.Console;

namespace Parley.Cli;

/// <summary>
/// Whether output may carry ANSI escape codes: only to a terminal, and never when
/// <c>NO_COLOR</c> is set (https://no-color.org). Output redirected to a file, a pipe or a log
/// collector gets plain text — Spectre.Console's own detection goes by <c>TERM</c> and emits
/// colour codes into a redirected stream when the environment looks like a colour terminal.
/// </summary>
internal static class Terminal
{
    /// <summary>True when <c>NO_COLOR</c> is present and not empty.</summary>
    public static bool NoColor => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));

    /// <summary>True when escape codes may go to standard output (or to standard error).</summary>
    public static bool Colors(bool standardError = false) =>
        !NoColor && !(standardError ? Console.IsErrorRedirected : Console.IsOutputRedirected);

    /// <summary>A Spectre console on standard output, or standard error (for <c>--json</c> runs, whose standard output is the JSON).</summary>
    public static IAnsiConsole Create(bool standardError = false)
    {
        bool redirected = standardError ? Console.IsErrorRedirected : Console.IsOutputRedirected;
        bool colors = Colors(standardError);
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = colors ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = colors ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = redirected ? InteractionSupport.No : InteractionSupport.Detect,
            Out = new AnsiConsoleOutput(standardError ? Console.Error : Console.Out),
        });
        if (redirected)
        {
            // A file has no width: Spectre's default of 80 columns would break messages across lines.
            console.Profile.Width = 1000;
        }

        return console;
    }

    /// <summary>The colour setting for the console logger, by the same rule (it writes to standard output).</summary>
    public static LoggerColorBehavior LoggerColors => Colors() ? LoggerColorBehavior.Enabled : LoggerColorBehavior.Disabled;
}

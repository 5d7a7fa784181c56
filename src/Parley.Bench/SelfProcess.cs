using System.Diagnostics;

namespace Parley.Bench;

/// <summary>Starts this same <c>parley</c> as a child process (a bench's server or peer), whether it runs as an apphost or under <c>dotnet</c>.</summary>
internal static class SelfProcess
{
    /// <summary>A start info for <c>parley ARGUMENTS</c> with standard output redirected (and standard error when asked).</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> arguments, bool redirectStandardError = false)
    {
        string self = Environment.ProcessPath ?? "dotnet";
        var info = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = redirectStandardError, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            // The running parley.dll: the entry assembly, not this library's.
            // (Not Assembly.Location, which a native or single-file build does not have: it never runs under dotnet.)
            string entry = System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name ?? throw new InvalidOperationException("no entry assembly to start again");
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, entry + ".dll"));
        }

        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        // A bench's server and peers run with the bench's own arguments only: settings meant for a
        // deployment (PARLEY_PORT, PARLEY_AUTH, PARLEY_CONFIG, …) must not change what is measured.
        foreach (string name in info.Environment.Keys.Where(name => name.StartsWith("PARLEY_", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(name);
        }

        return info;
    }

    /// <summary>Starts <c>parley ARGUMENTS</c>; <paramref name="what"/> names it in the error if it cannot start.</summary>
    public static Process Start(IEnumerable<string> arguments, string what) =>
        Process.Start(StartInfo(arguments)) ?? throw new InvalidOperationException($"could not start the {what} process");
}

using Spectre.Console;

namespace Parley.Bench;

/// <summary>What every workload reports while it runs and at the end: a progress line and the server's resource figures.</summary>
internal static class BenchReport
{
    private static long s_lastPlainProgress;

    /// <summary>The server's memory and CPU over the run, when its process is sampled.</summary>
    internal static ServerStats? ServerStats(ServerUnderTest server)
    {
        if (server.Sampler is not { } sampler)
        {
            return null;
        }

        sampler.SampleNow();
        IReadOnlyList<(double Seconds, double RssMb)> samples = sampler.Samples;
        double? firstHalf = null, secondHalf = null;
        if (samples.Count >= 4)
        {
            double middle = samples[^1].Seconds / 2;
            firstHalf = Math.Round(samples.Where(s => s.Seconds < middle).Average(s => s.RssMb), 1);
            secondHalf = Math.Round(samples.Where(s => s.Seconds >= middle).Average(s => s.RssMb), 1);
        }

        return new ServerStats(Math.Round(sampler.PeakRssMb, 1), Math.Round(sampler.AverageRssMb, 1), Math.Round(sampler.AverageCpuPercent, 1), firstHalf, secondHalf)
        {
            Memory = server.MemoryParts,
        };
    }

    /// <summary>A live progress line on a terminal; a plain line every five seconds otherwise.</summary>
    internal static void Progress(IAnsiConsole console, string text, ServerUnderTest server)
    {
        string line = server.Sampler is { } sampler
            ? $"{text}  | server rss {sampler.CurrentRssMb:F0} MB"
            : text;
        if (console.Profile.Capabilities.Interactive)
        {
            console.Write(new Text("\r" + line.PadRight(Math.Max(line.Length, Console.WindowWidth - 1))));
        }
        else if (Environment.TickCount64 - s_lastPlainProgress >= 5000)
        {
            s_lastPlainProgress = Environment.TickCount64;
            console.WriteLine(line);
        }
    }
}

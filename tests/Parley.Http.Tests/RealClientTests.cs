using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Xunit.Abstractions;

namespace Parley.Http.Tests;

/// <summary>
/// Clients that are not ours: curl, and headless Chromium loading a page with its CSS and JS.
/// CI installs both (.ci/run); on a machine without them these tests say so and check nothing,
/// unless CI=true, where a missing client is a failure.
/// </summary>
public class RealClientTests(ITestOutputHelper output)
{
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Curl_gets_files_ranges_compressed_and_HTTP_1_0_answers()
    {
        if (!Available("curl"))
        {
            return;
        }

        string css = string.Concat(Enumerable.Repeat("p { margin: 0; }\n", 40));
        await using HttpHarness http = await HttpHarness.StartAsync(populate: root =>
        {
            File.WriteAllText(Path.Combine(root, "site.css"), css);
            using var compressed = File.Create(Path.Combine(root, "site.css.br"));
            using var brotli = new BrotliStream(compressed, CompressionLevel.Optimal);
            brotli.Write(Encoding.UTF8.GetBytes(css));
        });
        string url = $"http://127.0.0.1:{http.EndPoint.Port}";

        Assert.Equal("Hello, world!", await RunAsync("curl", "-sS", "--fail", $"{url}/hello.txt"));
        Assert.Equal("world", await RunAsync("curl", "-sS", "--fail", "-r", "7-11", $"{url}/hello.txt"));
        Assert.Equal("Hello, world!", await RunAsync("curl", "-sS", "--fail", "--http1.0", $"{url}/hello.txt"));
        Assert.Equal(css, await RunAsync("curl", "-sS", "--fail", "--compressed", $"{url}/site.css")); // brotli, decoded by curl
        string head = await RunAsync("curl", "-sS", "-I", $"{url}/site.css", "-H", "Accept-Encoding: br");
        Assert.Contains("content-encoding: br", head, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("404", await RunAsync("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", $"{url}/missing"), StringComparison.Ordinal);
        Assert.Contains("400", await RunAsync("curl", "-sS", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", $"{url}/../../etc/passwd"), StringComparison.Ordinal);

        // Two URLs on one command line share a keep-alive connection.
        string verbose = await RunAsync("curl", "-sS", "-v", "-o", "/dev/null", "-o", "/dev/null", $"{url}/hello.txt", $"{url}/index.html");
        Assert.Contains("Re-using existing connection", verbose, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Chromium_loads_a_page_with_its_stylesheet_and_script()
    {
        if (!Available("chromium"))
        {
            return;
        }

        var served = new ConcurrentQueue<string>();
        await using HttpHarness http = await HttpHarness.StartAsync(
            configure: o => o.AccessLog = entry => served.Enqueue($"{entry.Target} {entry.Status}"),
            populate: root =>
            {
                File.WriteAllText(Path.Combine(root, "page.html"), """
                    <!doctype html>
                    <html><head><meta charset="utf-8"><title>Parley</title>
                    <link rel="stylesheet" href="/style.css"><script src="/app.js" defer></script></head>
                    <body><h1>Parley over HTTP</h1><p id="result">waiting</p></body></html>
                    """);
                File.WriteAllText(Path.Combine(root, "style.css"), "body { color: rgb(255, 0, 0); font-family: sans-serif; }\n");
                File.WriteAllText(Path.Combine(root, "app.js"), """
                    fetch('/data.json').then(r => r.json()).then(d => {
                      document.getElementById('result').textContent = getComputedStyle(document.body).color + ' ' + d.answer;
                    });
                    """);
                File.WriteAllText(Path.Combine(root, "data.json"), "{\"answer\": 42}");
            });
        string profile = Directory.CreateTempSubdirectory("parley-chromium-").FullName;
        try
        {
            string dom = await RunAsync(
                "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", $"--user-data-dir={profile}",
                "--virtual-time-budget=10000", "--dump-dom", $"http://127.0.0.1:{http.EndPoint.Port}/page.html");
            output.WriteLine(dom);
            Assert.Contains("<p id=\"result\">rgb(255, 0, 0) 42</p>", dom, StringComparison.Ordinal);
            Assert.Contains("/style.css 200", served);
            Assert.Contains("/app.js 200", served);
            Assert.Contains("/data.json 200", served);
        }
        finally
        {
            Directory.Delete(profile, recursive: true);
        }
    }

    private bool Available(string tool)
    {
        bool found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(dir => File.Exists(Path.Combine(dir, tool)));
        if (!found)
        {
            Assert.NotEqual("true", Environment.GetEnvironmentVariable("CI")); // CI installs it: missing there is a failure
            output.WriteLine($"{tool} is not installed: nothing checked (CI installs it; .ci/run).");
        }

        return found;
    }

    private static async Task<string> RunAsync(string tool, params string[] arguments)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(ToolTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{tool} did not finish in {ToolTimeout.TotalSeconds} s");
        }

        string text = await stdout;
        return arguments.Contains("-v") ? text + await stderr : text;
    }
}

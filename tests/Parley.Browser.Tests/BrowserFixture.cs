using Microsoft.Playwright;

namespace Parley.Browser.Tests;

/// <summary>
/// Debian's headless Chromium driven by Playwright, shared by a test class. Screenshots go to
/// <see cref="Screenshots"/> (kept as test artefacts).
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string Chromium = "/usr/bin/chromium";

    private IPlaywright? _playwright;

    public IBrowser? Browser { get; private set; }

    /// <summary>Where screenshots are written: TestResults/screenshots beside the test assembly.</summary>
    public static string Screenshots { get; } = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "TestResults", "screenshots")).FullName;

    /// <summary>False when Chromium is not installed here (outside CI only: on CI its absence fails the tests).</summary>
    public bool Available => Browser is not null;

    public async Task InitializeAsync()
    {
        if (!File.Exists(Chromium))
        {
            Assert.True(Environment.GetEnvironmentVariable("CI") != "true", "CI must have Chromium (.ci/run installs Debian's chromium)");
            return;
        }

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        _playwright?.Dispose();
    }
}

using System.Diagnostics;
using System.IO.Compression;
using System.Xml.Linq;

namespace Parley.Packaging.Tests;

/// <summary>
/// The packages as a new user gets them: packed from this tree into a local folder (once for
/// the class, with a version of their own so no cached copy stands in), then read, restored into
/// a fresh console project outside the repository and run, and the tool installed and started.
/// </summary>
public sealed class PackagesTests(PackedFeed feed) : IClassFixture<PackedFeed>
{
    private static readonly string[] Libraries =
    [
        "Parley.Abstractions", "Parley.Core", "Parley.Journal", "Parley.Chat", "Parley.Chat.Nats", "Parley.Hosting",
        "Parley.Http", "Parley.WebSockets", "Parley.Udp", "Parley.Ipc",
    ];

    [Fact]
    public void Every_package_is_named_as_its_assembly_and_carries_license_readme_symbols_and_one_version()
    {
        foreach (string id in Libraries)
        {
            string package = Path.Combine(feed.Folder, $"{id}.{feed.Version}.nupkg");
            Assert.True(File.Exists(package), $"{id} was not packed");
            Assert.True(File.Exists(Path.ChangeExtension(package, ".snupkg")), $"{id} has no symbols package");
            using ZipArchive zip = ZipFile.OpenRead(package);
            Assert.Contains(zip.Entries, e => e.FullName == $"lib/net10.0/{id}.dll");
            Assert.Contains(zip.Entries, e => e.FullName == "LICENSE");
            Assert.Contains(zip.Entries, e => e.FullName == "README.md");
            XElement metadata = Metadata(zip, id);
            XNamespace ns = metadata.Name.Namespace;
            Assert.Equal("MIT", (string?)metadata.Element(ns + "license"));
            Assert.Equal("README.md", (string?)metadata.Element(ns + "readme"));
            Assert.False(string.IsNullOrWhiteSpace((string?)metadata.Element(ns + "description")));
            Assert.False(string.IsNullOrWhiteSpace((string?)metadata.Element(ns + "tags")));
            Assert.NotNull(metadata.Element(ns + "repository")?.Attribute("commit"));

            // Parley's own dependencies are on this same version: one version for all.
            foreach (XElement dependency in metadata.Descendants(ns + "dependency").Where(d => ((string)d.Attribute("id")!).StartsWith("Parley", StringComparison.Ordinal)))
            {
                Assert.Equal(feed.Version, (string?)dependency.Attribute("version"));
            }
        }
    }

    [Fact]
    public async Task A_fresh_console_project_restores_the_packages_from_the_folder_and_runs_an_echo_and_a_chat_session()
    {
        string project = Path.Combine(feed.Work, "consumer");
        Directory.CreateDirectory(project);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Consumer", "Program.cs"), Path.Combine(project, "Program.cs"));
        File.WriteAllText(Path.Combine(project, "consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Parley.Core" Version="{feed.Version}" />
                <PackageReference Include="Parley.Chat" Version="{feed.Version}" />
              </ItemGroup>
            </Project>
            """);
        feed.WriteNuGetConfig(project);

        (int exit, string output) = await PackedFeed.RunAsync("dotnet", ["run", "--project", project], project);
        Assert.True(exit == 0, output);
        Assert.Contains("echo: ping from a package", output);
        Assert.Matches(@"chat: user \S+, ack 1, history hello from a package", output);
    }

    [Fact]
    public async Task The_tool_installs_from_the_folder_and_runs()
    {
        string tools = Path.Combine(feed.Work, "tools");
        feed.WriteNuGetConfig(feed.Work);
        (int exit, string output) = await PackedFeed.RunAsync("dotnet", ["tool", "install", "parley", "--tool-path", tools, "--version", feed.Version, "--add-source", feed.Folder], feed.Work);
        Assert.True(exit == 0, output);

        (exit, output) = await PackedFeed.RunAsync(Path.Combine(tools, "parley"), ["--version"], feed.Work);
        Assert.True(exit == 0, output);
        Assert.StartsWith(feed.Version, output.Trim(), StringComparison.Ordinal);

        (exit, output) = await PackedFeed.RunAsync(Path.Combine(tools, "parley"), ["serve", "--help"], feed.Work);
        Assert.True(exit == 0, output);
        Assert.Contains("--cluster", output);
    }

    private static XElement Metadata(ZipArchive zip, string id)
    {
        using Stream nuspec = zip.GetEntry($"{id}.nuspec")!.Open();
        XElement root = XElement.Load(nuspec);
        return root.Element(root.Name.Namespace + "metadata")!;
    }
}

/// <summary>The packages of this tree, packed once into a temporary folder.</summary>
public sealed class PackedFeed : IAsyncLifetime
{
    public string Work { get; } = Path.Combine(Path.GetTempPath(), "parley-packages-" + Guid.NewGuid().ToString("N"));

    public string Folder => Path.Combine(Work, "feed");

    /// <summary>The version set in Directory.Build.props, with a suffix of this run's own.</summary>
    public string Version { get; private set; } = "";

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Folder);
        string root = RepositoryRoot();
        string suffix = "test" + DateTime.UtcNow.ToString("yyyyMMddHHmmss", System.Globalization.CultureInfo.InvariantCulture) + Guid.NewGuid().ToString("N")[..6];
        (int exit, string output) = await RunAsync("dotnet", ["pack", Path.Combine(root, "Parley.Packages.slnf"), "-c", "Release", "-o", Folder, $"-p:VersionSuffix={suffix}", "-nodeReuse:false"], root);
        Assert.True(exit == 0, output);
        string core = Directory.GetFiles(Folder, "Parley.Core.*.nupkg").Single();
        Version = Path.GetFileNameWithoutExtension(core)["Parley.Core.".Length..];
        Assert.EndsWith("-" + suffix, Version, StringComparison.Ordinal);
    }

    public Task DisposeAsync()
    {
        try
        {
            Directory.Delete(Work, recursive: true);
        }
        catch (IOException)
        {
        }

        return Task.CompletedTask;
    }

    /// <summary>A NuGet.config that adds the local folder to the machine's sources.</summary>
    public void WriteNuGetConfig(string directory) => File.WriteAllText(Path.Combine(directory, "NuGet.config"), $"""
        <?xml version="1.0" encoding="utf-8"?>
        <configuration>
          <packageSources>
            <add key="parley-local" value="{Folder}" />
          </packageSources>
        </configuration>
        """);

    internal static async Task<(int Exit, string Output)> RunAsync(string file, string[] arguments, string directory)
    {
        var info = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment.Remove("MSBuildSDKsPath"); // the test host's MSBuild must not leak into a child build
        info.Environment.Remove("MSBUILD_EXE_PATH");
        using Process process = Process.Start(info)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(8));
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', arguments)} did not end within 8 minutes");
        }

        return (process.ExitCode, await output + await error);
    }

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Parley.Packages.slnf")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("Parley.Packages.slnf not found above " + AppContext.BaseDirectory);
    }
}

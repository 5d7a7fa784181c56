using System.Collections;
using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace Parley.Cli;

/// <summary>
/// Settings of a server command from three places besides its own flags (docs/operations.md,
/// "Configuration"): a JSON file (<c>--config FILE</c> or <c>PARLEY_CONFIG</c>) whose keys are the
/// command's option names without the dashes, and <c>PARLEY_*</c> environment variables (the
/// option's name in capitals, <c>-</c> as <c>_</c>: <c>PARLEY_TLS_PASSWORD</c>). Precedence:
/// flags &gt; environment &gt; file &gt; defaults. A secret may also come from a file named by
/// <c>PARLEY_&lt;NAME&gt;_FILE</c> (the Docker secrets convention). <c>--print-config</c> shows the
/// effective settings, each with where it came from, secrets masked.
/// </summary>
/// <remarks>
/// The file and the environment do not get a parser of their own: what they set becomes
/// <c>--name=value</c> tokens for the options the command line left out, and the command is parsed
/// again, so every value passes the same converters and validators as a flag — and an error
/// names where the bad value came from.
/// </remarks>
internal static class CommandSettings
{
    public const string EnvironmentPrefix = "PARLEY_";

    private const string ConfigName = "--config";
    private const string PrintConfigName = "--print-config";
    private const string Mask = "********";

    private static readonly ConditionalWeakTable<Command, Option[]> Secrets = [];

    private static readonly JsonDocumentOptions FileOptions = new()
    {
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    /// <summary>Gives <paramref name="command"/> <c>--config</c> and <c>--print-config</c>;
    /// <paramref name="secrets"/> are masked when shown and may come from <c>PARLEY_&lt;NAME&gt;_FILE</c>.</summary>
    public static Command WithSettings(this Command command, params Option[] secrets)
    {
        command.Options.Add(new Option<string?>(ConfigName)
        {
            Description = $"A JSON file of settings: the options above without '--' as keys ({{\"port\": 9000}}). Precedence: flags > {EnvironmentPrefix}* environment variables ({EnvironmentPrefix}PORT) > this file > defaults. Also {EnvironmentPrefix}CONFIG.",
        });
        command.Options.Add(new Option<bool>(PrintConfigName)
        {
            Description = "Print the effective settings (secrets masked), each with where it came from, and exit.",
        });
        Secrets.Add(command, secrets);
        return command;
    }

    /// <summary>Parses <paramref name="args"/>, filling in from the environment and the settings file
    /// what the command line leaves out. Returns the parse, or an error to print (exit code 2).</summary>
    public static Resolved Resolve(RootCommand root, string[] args, IDictionary environment)
    {
        ParseResult parse = root.Parse(args);
        Command command = parse.CommandResult.Command;
        if (!Secrets.TryGetValue(command, out Option[]? secrets) || parse.Errors.Count > 0 && !HasOnlyValueErrors(parse))
        {
            return new Resolved(parse, null, null);
        }

        string name = CommandPath(parse.CommandResult);
        var sources = new Dictionary<Option, string>();
        var injected = new List<string>();
        OptionResult? given = parse.GetResult(Find(command, ConfigName));
        if (given is { Implicit: false } && (given.Errors.Any() || given.Tokens.Count != 1))
        {
            return new Resolved(parse, null, null); // `--config` without a file, or twice: the parser says so
        }

        string? configPath = given is { Implicit: false } ? given.Tokens[0].Value : Get(environment, EnvironmentPrefix + "CONFIG");
        Dictionary<string, JsonElement>? file = null;
        if (configPath is not null)
        {
            try
            {
                file = ReadFile(configPath, command);
            }
            catch (SettingsException ex)
            {
                return new Resolved(parse, null, $"{name}: {ex.Message}");
            }
        }

        foreach (Option option in Settable(command))
        {
            if (parse.GetResult(option) is { Implicit: false })
            {
                sources[option] = "command line";
                if (secrets.Contains(option))
                {
                    WarnSecretOnCommandLine(name, option);
                }

                continue;
            }

            string variable = VariableName(option);
            List<string>? values = null;
            string? source = null;
            if (Get(environment, variable) is { } fromEnvironment)
            {
                source = $"environment {variable}";
                try
                {
                    values = option.Arity.MaximumNumberOfValues > 1
                        ? [.. fromEnvironment.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)]
                        : [Flag(option, fromEnvironment)];
                }
                catch (SettingsException ex)
                {
                    return new Resolved(parse, null, $"{name}: {source}: {ex.Message}");
                }

                if (values.Count == 0)
                {
                    values = null;
                }
            }
            else if (secrets.Contains(option) && Get(environment, variable + "_FILE") is { } secretFile)
            {
                try
                {
                    values = [File.ReadAllText(secretFile).TrimEnd('\r', '\n')];
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
                {
                    return new Resolved(parse, null, $"{name}: {variable}_FILE={secretFile}: {ex.Message}");
                }

                source = $"file named by {variable}_FILE";
            }
            else if (file is not null && file.TryGetValue(Key(option), out JsonElement element))
            {
                try
                {
                    values = FileValues(option, element);
                }
                catch (SettingsException ex)
                {
                    return new Resolved(parse, null, $"{name}: {configPath}: \"{Key(option)}\": {ex.Message}");
                }

                source = configPath;
                if (values is not null && secrets.Contains(option))
                {
                    WarnIfReadableByOthers(name, configPath!, Key(option));
                }
            }

            if (values is null or { Count: 0 })
            {
                sources[option] = "default";
                continue;
            }

            sources[option] = source!;
            foreach (string value in values)
            {
                injected.Add($"{option.Name}={value}");
            }
        }

        if (injected.Count > 0)
        {
            int end = Array.IndexOf(args, "--");
            string[] all = end < 0 ? [.. args, .. injected] : [.. args[..end], .. injected, .. args[end..]];
            parse = root.Parse(all);
            if (FirstErrorFromSettings(parse, sources) is { } error)
            {
                return new Resolved(parse, null, $"{name}: {error}");
            }
        }

        return new Resolved(parse, sources, null);
    }

    /// <summary>What <see cref="Resolve"/> found: the parse to run, where each setting came from
    /// (null for a command without settings), or an error that stops the command.</summary>
    public sealed record Resolved(ParseResult Parse, IReadOnlyDictionary<Option, string>? Sources, string? Error)
    {
        /// <summary>True when <c>--print-config</c> was asked for (and nothing is wrong).</summary>
        public bool PrintConfig => Error is null && Sources is not null && Parse.Errors.Count == 0
            && Parse.GetValue<bool>(PrintConfigName);
    }

    /// <summary>Writes the effective settings as the JSON a <c>--config</c> file takes, with where
    /// each came from as a comment and secrets masked.</summary>
    public static void Print(Resolved resolved, TextWriter output)
    {
        ParseResult parse = resolved.Parse;
        Command command = parse.CommandResult.Command;
        Option[] secrets = Secrets.TryGetValue(command, out Option[]? list) ? list : [];
        var text = new StringBuilder();
        text.Append("// ").Append(CommandPath(parse.CommandResult))
            .Append(": effective settings. Precedence: command line > ").Append(EnvironmentPrefix)
            .Append("* environment > --config file > defaults.\n{\n");
        Option[] settable = [.. Settable(command)];
        for (int i = 0; i < settable.Length; i++)
        {
            Option option = settable[i];
            object? value = parse.GetResult(option) is { } result ? result.GetValueOrDefault<object?>() : null;
            string source = resolved.Sources!.TryGetValue(option, out string? from) ? from : "default";

            // A default is shown commented out: used as a --config file, this output sets what was
            // set and leaves the rest to the defaults (some of which follow other settings).
            text.Append(source == "default" ? "  // " : "  ").Append(Quote(Key(option))).Append(": ")
                .Append(Format(value, secrets.Contains(option)))
                .Append(i < settable.Length - 1 ? "," : "")
                .Append(" // ").Append(source.ReplaceLineEndings(" "))
                .Append('\n');
        }

        text.Append("}\n");
        output.Write(text.ToString());
    }

    /// <summary>The environment variable of an option: <c>--tls-password</c> → <c>PARLEY_TLS_PASSWORD</c>.</summary>
    public static string VariableName(Option option) =>
        EnvironmentPrefix + Key(option).ToUpperInvariant().Replace('-', '_');

    /// <summary>The settings-file key of an option: its name without the dashes.</summary>
    public static string Key(Option option) => option.Name.TrimStart('-');

    /// <summary>Passwords (or tokens) of URLs hidden: <c>nats://user:********@host</c>, in each of a
    /// comma-separated list, whether or not the rest parses as a URL.</summary>
    public static string MaskUrlCredentials(string value)
    {
        if (!value.Contains('@', StringComparison.Ordinal))
        {
            return value;
        }

        return string.Join(',', value.Split(',').Select(MaskOne));

        static string MaskOne(string url)
        {
            int scheme = url.IndexOf("://", StringComparison.Ordinal);
            int start = scheme < 0 ? 0 : scheme + 3;
            int end = url.IndexOfAny(['/', '?', '#'], start);
            string authority = end < 0 ? url[start..] : url[start..end];
            int at = authority.LastIndexOf('@'); // a password may hold '@' itself
            if (at < 0)
            {
                return url;
            }

            string userInfo = authority[..at];
            int colon = userInfo.IndexOf(':', StringComparison.Ordinal);
            string masked = colon < 0 ? Mask : userInfo[..(colon + 1)] + Mask;
            return url[..start] + masked + authority[at..] + (end < 0 ? "" : url[end..]);
        }
    }

    private static IEnumerable<Option> Settable(Command command) =>
        command.Options.Where(option => option.Name is not (ConfigName or PrintConfigName) && option is not HelpOption && option is not VersionOption && !option.Hidden);

    private static Option Find(Command command, string name) => command.Options.First(option => option.Name == name);

    private static string CommandPath(CommandResult result) =>
        result.Parent is CommandResult parent ? $"{CommandPath(parent)} {result.Command.Name}" : result.Command.Name;

    private static string? Get(IDictionary environment, string name) =>
        environment[name] is string { Length: > 0 } value ? value : null;

    /// <summary>Errors the settings may mend (a missing or bad value), not a mistyped command.</summary>
    private static bool HasOnlyValueErrors(ParseResult parse) => parse.UnmatchedTokens.Count == 0;

    private static Dictionary<string, JsonElement> ReadFile(string path, Command command)
    {
        byte[] bytes;
        try
        {
            bytes = ReadSmallFile(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new SettingsException($"--config {path}: {ex.Message}");
        }

        JsonDocument document;
        try
        {
            // A UTF-8 byte order mark (as some editors save) is not part of the JSON.
            ReadOnlyMemory<byte> json = bytes.AsMemory(bytes.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0);
            if (!System.Text.Unicode.Utf8.IsValid(json.Span))
            {
                throw new SettingsException($"--config {path}: not UTF-8 text");
            }

            document = JsonDocument.Parse(json, FileOptions);
        }
        catch (JsonException ex)
        {
            string message = ex.Message;
            int where = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
            throw new SettingsException($"--config {path}: not JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1}): {(where < 0 ? message : message[..where])}");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new SettingsException($"--config {path}: the settings must be a JSON object ({{\"port\": 9000}}), not {document.RootElement.ValueKind.ToString().ToLowerInvariant()}");
            }

            var keys = new HashSet<string>(Settable(command).Select(Key), StringComparer.Ordinal);
            var settings = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (JsonProperty property in document.RootElement.EnumerateObject())
            {
                if (!keys.Contains(property.Name))
                {
                    throw new SettingsException($"--config {path}: \"{property.Name}\" is not a setting of {CommandPath(command)}; the settings are its options without '--': {string.Join(", ", keys)}");
                }

                if (!settings.TryAdd(property.Name, property.Value.Clone()))
                {
                    throw new SettingsException($"--config {path}: \"{property.Name}\" is given twice");
                }
            }

            return settings;
        }
    }

    /// <summary>A settings file's bytes: a regular file of at most 1 MiB (not a device or a pipe that never ends).</summary>
    private static byte[] ReadSmallFile(string path)
    {
        const int Limit = 1024 * 1024;
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, System.IO.FileOptions.None);
        if (!file.CanSeek)
        {
            throw new IOException("not a regular file");
        }

        if (file.Length > Limit)
        {
            throw new IOException($"{file.Length} bytes; a settings file holds at most {Limit}");
        }

        byte[] bytes = new byte[file.Length];
        file.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>A boolean option's value as the parser takes it (true/false), from the spellings
    /// people use in environment variables and files: true/false, 1/0, yes/no, on/off.</summary>
    private static string Flag(Option option, string value)
    {
        if (option.ValueType != typeof(bool))
        {
            return value;
        }

        return value.Trim().ToUpperInvariant() switch
        {
            "TRUE" or "1" or "YES" or "ON" => "true",
            "FALSE" or "0" or "NO" or "OFF" => "false",
            _ => throw new SettingsException($"'{value}' is not true or false (also 1/0, yes/no, on/off)"),
        };
    }

    private static string CommandPath(Command command) =>
        command.Parents.OfType<Command>().FirstOrDefault() is { } parent and not RootCommand ? $"{CommandPath(parent)} {command.Name}" : $"parley {command.Name}";

    /// <summary>The tokens a file value stands for; null (JSON null) for "not set".</summary>
    private static List<string>? FileValues(Option option, JsonElement element)
    {
        bool list = option.Arity.MaximumNumberOfValues > 1;
        switch (element.ValueKind)
        {
            case JsonValueKind.Null:
                return null;
            case JsonValueKind.Array when list:
                var values = new List<string>();
                foreach (JsonElement item in element.EnumerateArray())
                {
                    values.Add(Scalar(item) ?? throw new SettingsException("a list holds strings, numbers or booleans"));
                }

                return values.Count == 0 ? null : values;
            case JsonValueKind.Array:
                throw new SettingsException("takes one value, not a list");
            default:
                return [Flag(option, Scalar(element) ?? throw new SettingsException($"takes a string, number or boolean, not {element.ValueKind.ToString().ToLowerInvariant()}"))];
        }
    }

    private static string? Scalar(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.String => element.GetString(),
        JsonValueKind.Number => element.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => null,
    };

    /// <summary>The first parse error caused by a value from the environment or the file, said with
    /// where it came from; null when every error is the command line's own (those are reported as usual).</summary>
    private static string? FirstErrorFromSettings(ParseResult parse, Dictionary<Option, string> sources)
    {
        foreach (ParseError error in parse.Errors)
        {
            for (SymbolResult? symbol = error.SymbolResult; symbol is not null; symbol = symbol.Parent)
            {
                if (symbol is OptionResult { Option: var option } && sources.TryGetValue(option, out string? source) && source is not ("command line" or "default"))
                {
                    // A file's value is named by its key; an environment variable names itself.
                    return source.StartsWith("environment ", StringComparison.Ordinal) || source.StartsWith("file named by ", StringComparison.Ordinal)
                        ? $"{source}: {error.Message}"
                        : $"{source}: \"{Key(option)}\": {error.Message}";
                }
            }
        }

        return null;
    }

    private static string Format(object? value, bool secret) => value switch
    {
        null => "null",
        _ when secret => Quote(Mask),
        bool flag => flag ? "true" : "false",
        string text => Quote(MaskUrlCredentials(text)),
        string[] items => "[" + string.Join(", ", items.Select(item => Quote(MaskUrlCredentials(item)))) + "]",
        IFormattable number when value is int or long or double or float or decimal => number.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => Quote(value.ToString() ?? ""),
    };

    private static string Quote(string value) =>
        "\"" + JsonEncodedText.Encode(value, System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping) + "\"";

    private static void WarnSecretOnCommandLine(string command, Option option) =>
        Console.Error.WriteLine($"{command}: warning: {option.Name} on the command line can be read by every user of this machine (ps); give it in {VariableName(option)}, {VariableName(option)}_FILE or the --config file instead.");

    private static void WarnIfReadableByOthers(string command, string path, string key)
    {
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & UnixFileMode.OtherRead) != 0)
        {
            Console.Error.WriteLine($"{command}: warning: {path} holds \"{key}\" and every user of the machine can read it; chmod o-r {path}.");
        }
    }

    private sealed class SettingsException(string message) : Exception(message);
}

using System.Net;
using Microsoft.Extensions.Options;

namespace Parley.Hosting;

/// <summary>
/// Checks a server's settings when the host starts (<c>ValidateOnStart</c>), each error naming the
/// configuration key it is about (<c>Parley:Chat:Port: 70000 is not a port (0 to 65535)</c>), so a
/// bad setting stops the host with one clear message instead of failing somewhere later.
/// </summary>
internal sealed class SettingsValidator(string name, string path) : IValidateOptions<ParleyServerSettings>, IValidateOptions<ParleyChatSettings>
{
    private const int MaxMessageBytesLimit = 1024 * 1024;

    public ValidateOptionsResult Validate(string? optionsName, ParleyServerSettings options)
    {
        if (optionsName != name)
        {
            return ValidateOptionsResult.Skip;
        }

        List<string> errors = ListenErrors(options);
        if (options.Framing is not ("length" or "line" or "raw"))
        {
            errors.Add($"{path}:Framing: '{options.Framing}' is not a framing (length, line or raw)");
        }

        if (options.MaxMessageSize is <= 0)
        {
            errors.Add($"{path}:MaxMessageSize: {options.MaxMessageSize} must be more than 0");
        }

        if (options.IdleTimeout <= TimeSpan.Zero && options.IdleTimeout != Timeout.InfiniteTimeSpan)
        {
            errors.Add($"{path}:IdleTimeout: {options.IdleTimeout} must be more than 0");
        }

        return Result(errors);
    }

    public ValidateOptionsResult Validate(string? optionsName, ParleyChatSettings options)
    {
        if (optionsName != name)
        {
            return ValidateOptionsResult.Skip;
        }

        List<string> errors = ListenErrors(options);
        Check(errors, "Auth", options.Auth, "open", "required");
        Check(errors, "Durability", options.Durability, "always", "batch", "none");
        if (string.IsNullOrWhiteSpace(options.DataDirectory))
        {
            errors.Add($"{path}:DataDirectory: must name a folder");
        }

        if (options.MaxMessageBytes is < 1 or > MaxMessageBytesLimit)
        {
            errors.Add($"{path}:MaxMessageBytes: {options.MaxMessageBytes} must be 1 to {MaxMessageBytesLimit}");
        }

        Positive(errors, "HistoryBytesPerRoom", options.HistoryBytesPerRoom);
        Positive(errors, "MaxJournalBytes", options.MaxJournalBytes);
        Positive(errors, "MaxCommandsPerSecond", options.MaxCommandsPerSecond);
        if (options.LoginTimeout <= TimeSpan.Zero)
        {
            errors.Add($"{path}:LoginTimeout: {options.LoginTimeout} must be more than 0");
        }

        if (options.RoomsFile is { Length: > 0 } rooms && !File.Exists(rooms))
        {
            errors.Add($"{path}:RoomsFile: '{rooms}' does not exist");
        }

        if (options.Cluster.Url is { Length: > 0 } && options.Cluster.Replicas is < 1 or > 5)
        {
            errors.Add($"{path}:Cluster:Replicas: {options.Cluster.Replicas} must be 1 to 5");
        }

        return Result(errors);
    }

    private List<string> ListenErrors(ParleyListenSettings options)
    {
        var errors = new List<string>();
        if (!ListenAddress.TryParse(options.Host, out _))
        {
            errors.Add($"{path}:Host: '{options.Host}' is not an IP address (use 127.0.0.1, ::1, 0.0.0.0, ::, any or localhost)");
        }

        if (options.Port is < IPEndPoint.MinPort or > IPEndPoint.MaxPort)
        {
            errors.Add($"{path}:Port: {options.Port} is not a port (0 to 65535)");
        }

        Positive(errors, "MaxConnections", options.MaxConnections);
        Positive(errors, "MaxConnectionsPerAddress", options.MaxConnectionsPerAddress);
        Positive(errors, "ListenBacklog", options.ListenBacklog);
        if (options.MaxSendQueueBytes is { } queue)
        {
            Positive(errors, "MaxSendQueueBytes", queue);
        }

        if (options.ShutdownTimeout < TimeSpan.Zero)
        {
            errors.Add($"{path}:ShutdownTimeout: {options.ShutdownTimeout} must not be negative");
        }

        if (options.Tls.CertificatePath is { Length: > 0 } certificate)
        {
            if (!File.Exists(certificate))
            {
                errors.Add($"{path}:Tls:CertificatePath: '{certificate}' does not exist");
            }
            else if (options.Tls.KeyPath is { Length: > 0 } key && !File.Exists(key))
            {
                errors.Add($"{path}:Tls:KeyPath: '{key}' does not exist");
            }

            Positive(errors, "Tls:MaxHandshakesPerAddress", options.Tls.MaxHandshakesPerAddress);
        }

        return errors;
    }

    private void Positive(List<string> errors, string key, long value)
    {
        if (value <= 0)
        {
            errors.Add($"{path}:{key}: {value} must be more than 0");
        }
    }

    private void Check(List<string> errors, string key, string value, params string[] allowed)
    {
        if (!allowed.Contains(value, StringComparer.Ordinal))
        {
            errors.Add($"{path}:{key}: '{value}' is not one of {string.Join(", ", allowed)}");
        }
    }

    private static ValidateOptionsResult Result(List<string> errors) =>
        errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
}

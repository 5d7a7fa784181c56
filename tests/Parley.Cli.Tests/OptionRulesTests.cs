using System.CommandLine;

namespace Parley.Cli.Tests;

/// <summary>Every numeric option of every command refuses what it cannot mean with a parse error that states the rule (issue 15, item 9).</summary>
public class OptionRulesTests
{
    private static readonly Type[] Numeric = [typeof(int), typeof(int?), typeof(long), typeof(long?), typeof(double), typeof(double?)];

    public static TheoryData<string, string> NumericOptions()
    {
        var data = new TheoryData<string, string>();
        foreach ((string path, Option option) in Walk(ParleyCommand.Create(), ""))
        {
            if (Numeric.Contains(option.ValueType))
            {
                data.Add(path.Trim(), option.Name);
            }
        }

        return data;
    }

    [Fact]
    public void The_sweep_finds_the_numeric_options_of_every_command()
    {
        string[] commands = [.. NumericOptions().Select(row => (string)row[0]).Distinct()];
        Assert.Equal(
            ["bench abuse", "bench broadcast", "bench chat", "bench connections", "bench echo", "bench http", "bench ipc", "bench udp", "cert create", "chat", "cluster status", "echo", "http", "journal dump", "serve", "udp receive"],
            commands.Order());
    }

    [Theory]
    [MemberData(nameof(NumericOptions))]
    public void Every_numeric_option_refuses_a_negative_value_naming_itself(string command, string option)
    {
        AssertRefused(option, [.. command.Split(' '), option, "-1"]);
    }

    [Theory]
    [MemberData(nameof(NumericOptions))]
    public void Every_numeric_option_refuses_not_a_number_and_infinity(string command, string option)
    {
        foreach (string value in new[] { "NaN", "Infinity", "1e400" })
        {
            AssertRefused(option, [.. command.Split(' '), option, value]);
        }
    }

    [Theory]
    [InlineData("echo --summary-interval 0", "--summary-interval: 0 is out of range: must be more than 0 and at most 86400 seconds.")]
    [InlineData("serve --summary-interval 0", "--summary-interval: 0 is out of range: must be more than 0 and at most 86400 seconds.")]
    [InlineData("echo --max-connections 0", "--max-connections: 0 is out of range: must be 1 to 1000000.")]
    [InlineData("serve --max-connections 2000000", "--max-connections: 2000000 is out of range: must be 1 to 1000000.")]
    [InlineData("echo --idle-timeout 0", "--idle-timeout: 0 is out of range: must be more than 0 and at most 86400 seconds.")]
    [InlineData("echo --max-message-size 0", "--max-message-size: 0 is out of range: must be 1 to 1073741824 bytes.")]
    [InlineData("echo --port 65536", "--port: 65536 is out of range: must be 0 to 65535.")]
    [InlineData("serve --max-message-bytes 0", "--max-message-bytes: 0 is out of range: must be 1 to 1048576 bytes.")]
    [InlineData("serve --history-kb 0", "--history-kb: 0 is out of range: must be 1 to 1048576 KiB.")]
    [InlineData("serve --send-queue-kb 0", "--send-queue-kb: 0 is out of range: must be 1 to 1048576 KiB.")]
    [InlineData("serve --backlog 0", "--backlog: 0 is out of range: must be 1 to 1000000.")]
    [InlineData("serve --max-commands-per-second 0", "--max-commands-per-second: 0 is out of range: must be 1 to 1000000.")]
    [InlineData("chat --port 0", "--port: 0 is out of range: must be 1 to 65535.")]
    [InlineData("cert create --days 0", "--days: 0 is out of range: must be 1 to 36500 days.")]
    [InlineData("journal dump --from 0", "--from: 0 is out of range: must be 1 to 9223372036854775807.")]
    [InlineData("bench echo --clients 0", "--clients: 0 is out of range: must be 1 to 1000000.")]
    [InlineData("bench echo --duration 0", "--duration: 0 is out of range: must be more than 0 and at most 86400 seconds.")]
    [InlineData("bench echo --inflight 0", "--inflight: 0 is out of range: must be 1 to 1000000.")]
    [InlineData("bench echo --inflight 1000000 --size 1048576", "--inflight × --size: 1048580000000 bytes in flight per client is over 1073741824; lower one of them.")]
    [InlineData("bench broadcast --interval-ms 0", "--interval-ms: 0 is out of range: must be 1 to 3600000 ms.")]
    [InlineData("bench broadcast --size 2000000", "--size: 2000000 is out of range: must be 0 to 1048576 bytes.")]
    [InlineData("bench connections --server-pid 0", "--server-pid: 0 is out of range: must be 1 to 2147483647.")]
    [InlineData("bench chat --rate 0", "--rate: 0 is out of range: must be more than 0 and at most 1000000 messages/s.")]
    [InlineData("bench chat --clients 0", "--clients: 0 is out of range: must be 1 to 1000000.")]
    [InlineData("bench chat --target nowhere", "--target: 'nowhere' is not host:port with an IP address or localhost (for example 127.0.0.1:7000).")]
    [InlineData("bench udp --rate -1", "--rate: -1 is out of range: must be 0 to 1000000000 messages/s (0: unlimited).")]
    [InlineData("bench udp --reorder 101", "--reorder: 101 is out of range: must be 0 to 100 percent.")]
    [InlineData("bench ipc --size 0", "--size: 0 is out of range: must be 1 to 67108864 bytes.")]
    [InlineData("bench ipc --inflight 0", "--inflight: 0 is out of range: must be 1 to 1000000.")]
    public void A_value_out_of_range_is_a_parse_error_that_states_the_rule(string arguments, string message)
    {
        ParseResult result = ParleyCommand.Create().Parse(arguments.Split(' '));
        Assert.Contains(message, result.Errors.Select(error => error.Message));
    }

    [Theory]
    [InlineData("--summary-interval: 0 is out of range", "echo", "--summary-interval", "0")]
    [InlineData("--max-connections: 0 is out of range", "echo", "--max-connections", "0")]
    [InlineData("--summary-interval: -5 is out of range", "serve", "--summary-interval", "-5")]
    [InlineData("--clients: 0 is out of range", "bench", "echo", "--clients", "0")]
    [InlineData("Cannot parse argument 'NaN' for option '--days'", "cert", "create", "--days", "NaN")]
    [InlineData("Cannot parse argument 'abc' for option '--port'", "echo", "--port", "abc")]
    [InlineData("Cannot parse argument 'many' for option '--inflight'", "bench", "echo", "--inflight", "many")]
    [InlineData("--idle-timeout: NaN is out of range", "echo", "--idle-timeout", "NaN")]
    public async Task The_real_process_exits_non_zero_with_the_rule_and_no_stack_trace(string message, params string[] arguments)
    {
        await ParleyProcess.AssertRefusesAsync(message, arguments);
    }

    private static void AssertRefused(string option, string[] arguments)
    {
        ParseResult result = ParleyCommand.Create().Parse(arguments);
        Assert.True(
            result.Errors.Any(error => error.Message.Contains(option, StringComparison.Ordinal)),
            $"parley {string.Join(' ', arguments)}: no error about {option}; errors: {string.Join(" | ", result.Errors.Select(e => e.Message))}");
    }

    private static IEnumerable<(string Path, Option Option)> Walk(Command command, string path)
    {
        foreach (Option option in command.Options)
        {
            yield return (path, option);
        }

        foreach (Command child in command.Subcommands)
        {
            foreach ((string Path, Option Option) item in Walk(child, $"{path} {child.Name}"))
            {
                yield return item;
            }
        }
    }
}

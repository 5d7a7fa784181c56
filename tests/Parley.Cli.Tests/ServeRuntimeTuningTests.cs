namespace Parley.Cli.Tests;

public class ServeRuntimeTuningTests
{
    private static string? NoVariables(string name) => null;

    [Fact]
    public void Serve_turns_the_thread_pool_spinning_off()
    {
        Assert.True(ServeRuntimeTuning.ShouldTurnOffSpinning(["serve"], NoVariables, configured: null));
        Assert.True(ServeRuntimeTuning.ShouldTurnOffSpinning(["serve", "--port", "9000"], NoVariables, configured: null));
    }

    [Theory]
    [InlineData("echo")]
    [InlineData("bench")]
    [InlineData("chat")]
    [InlineData("--help")]
    public void Other_commands_keep_the_runtime_default(string command)
    {
        Assert.False(ServeRuntimeTuning.ShouldTurnOffSpinning([command, "serve"], NoVariables, configured: null));
        Assert.False(ServeRuntimeTuning.ShouldTurnOffSpinning([], NoVariables, configured: null));
    }

    [Theory]
    [InlineData("DOTNET_ThreadPool_UnfairSemaphoreSpinLimit")]
    [InlineData("COMPlus_ThreadPool_UnfairSemaphoreSpinLimit")]
    public void An_operators_environment_variable_wins(string variable)
    {
        Assert.False(ServeRuntimeTuning.ShouldTurnOffSpinning(["serve"], name => name == variable ? "70" : null, configured: null));
    }

    [Fact]
    public void A_runtime_configuration_setting_wins()
    {
        Assert.False(ServeRuntimeTuning.ShouldTurnOffSpinning(["serve"], NoVariables, configured: 70));
    }

    [Fact]
    public void Http_runs_socket_continuations_on_the_engine_threads_unless_the_operator_says_otherwise()
    {
        Assert.True(ServeRuntimeTuning.ShouldInlineSocketCompletions(["http", "--root", "."], NoVariables));
        Assert.False(ServeRuntimeTuning.ShouldInlineSocketCompletions(["http"], name => name == ServeRuntimeTuning.InlineCompletionsVariable ? "0" : null));
        Assert.False(ServeRuntimeTuning.ShouldInlineSocketCompletions(["serve"], NoVariables));
        Assert.False(ServeRuntimeTuning.ShouldInlineSocketCompletions(["bench", "http"], NoVariables));
        Assert.False(ServeRuntimeTuning.ShouldTurnOffSpinning(["http"], NoVariables, configured: null));
    }
}

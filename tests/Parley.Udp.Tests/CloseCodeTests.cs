namespace Parley.Udp.Tests;

/// <summary>The Close packet's reason byte keeps its numbers while the API speaks <see cref="CloseReason"/>.</summary>
public sealed class CloseCodeTests
{
    [Theory]
    [InlineData(0, CloseReason.None)]
    [InlineData(1, CloseReason.LocalClose)]
    [InlineData(2, CloseReason.RemoteClose)]
    [InlineData(3, CloseReason.IdleTimeout)]
    [InlineData(4, CloseReason.ConnectFailed)]
    [InlineData(5, CloseReason.ConnectionLimit)]
    [InlineData(6, CloseReason.MessageTimeout)]
    [InlineData(7, CloseReason.ServerShutdown)]
    [InlineData(8, CloseReason.ProtocolError)]
    [InlineData(9, CloseReason.AddressLimit)]
    public void Every_wire_code_means_one_close_reason_and_back(byte code, CloseReason reason)
    {
        Assert.Equal(reason, CloseCodes.FromWire(code));
        if (reason != CloseReason.LocalClose)
        {
            // A peer that closes on purpose says "local" (1) from its side whatever the local cause.
            Assert.Equal(code, CloseCodes.ToWire(reason));
        }
    }

    [Fact]
    public void A_local_cause_only_TCP_knows_goes_on_the_wire_as_local_and_an_unknown_code_as_a_failed_connect()
    {
        Assert.Equal(1, CloseCodes.ToWire(CloseReason.LocalAbort));
        Assert.Equal(1, CloseCodes.ToWire(CloseReason.ApplicationError));
        Assert.Equal(CloseReason.ConnectFailed, CloseCodes.FromWire(200));
    }
}

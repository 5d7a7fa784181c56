namespace Parley.Udp;

/// <summary>What the protocol promises for a message.</summary>
public enum DeliveryMode : byte
{
    /// <summary>At most once, no retransmission, no order.</summary>
    Unreliable = 0,

    /// <summary>Exactly once, in whatever order it arrives.</summary>
    ReliableUnordered = 1,

    /// <summary>Exactly once, in send order within its channel.</summary>
    ReliableOrdered = 2,
}

namespace Parley.Udp;

/// <summary>
/// What <see cref="LossRecovery"/> tells its session about the items of packets it settles: the
/// session owns the messages, the delivered confirmations and the path-MTU search; the recovery
/// owns only the packets. Called under the host's lock, from inside the recovery's methods.
/// </summary>
internal interface IRecoverySink
{
    /// <summary>Every fragment of a reliable message has been acknowledged.</summary>
    void OnMessageReceived(OutgoingMessage message, long now);

    /// <summary>A packet carrying delivered confirmations was lost (or its timeout fired): send them again at once.</summary>
    void OnDeliveredLost(DeliveredRun run);

    /// <summary>A path-MTU probe of <paramref name="size"/> bytes got through.</summary>
    void OnProbeAcked(int size);

    /// <summary>A path-MTU probe of <paramref name="size"/> bytes was lost.</summary>
    void OnProbeLost(int size);
}

namespace Parley.Ipc;

/// <summary>Settings of a shared-memory listener or connection. Validate with <see cref="Validate"/>.</summary>
public sealed class IpcOptions
{
    /// <summary>
    /// Bytes in each direction's ring; a power of two from 4 KiB to 1 GiB. Default 1 MiB: room
    /// for tens of thousands of small messages in flight, and a message up to half of it
    /// (<see cref="IpcChannel.MaxMessageSize"/>, 512 KiB − 8). The listener's value is the one
    /// used: each connection's region is created by the server.
    /// </summary>
    public int RingCapacity { get; set; } = 1 << 20;

    /// <summary>How this side waits for data or room. Default <see cref="IpcWaitStrategy.Hybrid"/>.</summary>
    public IpcWaitStrategy WaitStrategy { get; set; } = IpcWaitStrategy.Hybrid;

    /// <summary>
    /// How long <see cref="IpcWaitStrategy.Hybrid"/> polls before it sleeps (and
    /// <see cref="IpcWaitStrategy.Yield"/> before it starts yielding; on the Connection transport,
    /// how long a wait polls before it goes to the wait thread). Default 50 µs:
    /// longer than a peer's typical answer on another core (a few µs), short enough that an
    /// idle side stops burning CPU at once.
    /// </summary>
    public TimeSpan SpinDuration { get; set; } = TimeSpan.FromMicroseconds(50);

    /// <summary>Limit on the connect handshake (rendezvous socket, region mapping). Default 5 s.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Where rendezvous sockets live (<c>NAME.sock</c>). Default <c>$TMPDIR/parley-ipc</c>.
    /// Regions are created in <c>/dev/shm</c> (memory, never written to disk) and unlinked as
    /// soon as the client has mapped them.
    /// </summary>
    public string? Directory { get; set; }

    /// <summary>Connections one listener keeps open at once. Default 64; more are refused at the handshake.</summary>
    public int MaxConnections { get; set; } = 64;

    /// <exception cref="ArgumentException">A value is out of range.</exception>
    public void Validate()
    {
        Ring.ValidateCapacity(RingCapacity);
        if (SpinDuration < TimeSpan.Zero || SpinDuration > TimeSpan.FromSeconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(SpinDuration), SpinDuration, "The spin duration must be between 0 and 1 s.");
        }

        if (HandshakeTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(HandshakeTimeout), HandshakeTimeout, "The handshake timeout must be positive.");
        }

        if (MaxConnections < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxConnections), MaxConnections, "At least one connection must be allowed.");
        }

        if (!Enum.IsDefined(WaitStrategy))
        {
            throw new ArgumentOutOfRangeException(nameof(WaitStrategy), WaitStrategy, "Unknown wait strategy.");
        }
    }

    internal string SocketDirectory => Directory ?? Path.Combine(Path.GetTempPath(), "parley-ipc");

    internal static string RegionDirectory => System.IO.Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();

    /// <summary>Whether <paramref name="name"/> can name a listener: 1–64 of A–Z, a–z, 0–9, '.', '_', '-', not starting with '.' (it becomes part of file names).</summary>
    public static bool IsValidName(string? name) =>
        name is { Length: >= 1 and <= 64 } && name[0] != '.' && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    internal static void ValidateName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!IsValidName(name))
        {
            throw new ArgumentException($"'{name}' is not a valid IPC name: use 1–64 letters, digits, '.', '_' or '-', not starting with '.'.", nameof(name));
        }
    }
}

using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Threading.Channels;

namespace Parley.Udp.Objects;

/// <summary>Sends a <see cref="Stream"/> of any size to a peer running an <see cref="ObjectReceiver"/>.</summary>
public static class ObjectSender
{
    /// <summary>
    /// Sends <paramref name="source"/> as <paramref name="name"/>: offers it, learns which blocks the
    /// receiver already holds from an earlier attempt (resume — the source must then be seekable),
    /// sends the others as blocks written at their offsets, and completes when the receiver has
    /// written every block. At most <see cref="ObjectTransferOptions.MaxBlocksInFlight"/> blocks
    /// are unwritten at a time. Returns the bytes sent (less than the length when resumed).
    /// </summary>
    /// <exception cref="UdpObjectTransferException">Refused, the session ended, or no progress within the timeout.</exception>
    public static async Task<long> SendObjectAsync(this UdpPeer peer, Stream source, string name, long length, ObjectTransferOptions? options = null, IProgress<ObjectProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        options ??= new ObjectTransferOptions();
        uint transfer = BinaryPrimitives.ReadUInt32LittleEndian(RandomNumberGenerator.GetBytes(4));
        int blocks = ObjectMessages.BlockCount(length, options.BlockSize);
        var status = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long written = 0;
        // A one-slot signal: "something changed" (a Written count, Done, or the session's end).
        var progressed = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

        void OnMessage(UdpPeer from, in UdpMessage message)
        {
            ReadOnlySpan<byte> m = message.Data;
            if (from != peer || message.Channel != options.Channel || m.Length < 5 || BinaryPrimitives.ReadUInt32LittleEndian(m[1..]) != transfer)
            {
                return;
            }

            switch (m[0])
            {
                case ObjectMessages.Status:
                    status.TrySetResult(m[5..].ToArray());
                    break;
                case ObjectMessages.Written when m.Length >= 9:
                    Interlocked.Exchange(ref written, BinaryPrimitives.ReadUInt32LittleEndian(m[5..]));
                    progressed.Writer.TryWrite(true);
                    break;
                case ObjectMessages.Done:
                    done.TrySetResult();
                    progressed.Writer.TryWrite(true);
                    break;
            }
        }

        void OnDisconnected(UdpPeer gone)
        {
            if (gone == peer)
            {
                var error = new UdpObjectTransferException($"The session with {peer.RemoteEndPoint} ended ({peer.CloseReason}) during the transfer of '{name}'.");
                status.TrySetException(error);
                done.TrySetException(error);
                progressed.Writer.TryWrite(true);
            }
        }

        UdpHost host = peer.Host;
        host.MessageReceived += OnMessage;
        host.PeerDisconnected += OnDisconnected;
        try
        {
            await SendAsync(ObjectMessages.EncodeOffer(transfer, length, options.BlockSize, name)).ConfigureAwait(false);
            byte[] answer = await status.Task.WaitAsync(options.Timeout, cancellationToken).ConfigureAwait(false);
            if (answer.Length == 0 || answer[0] == 0)
            {
                throw new UdpObjectTransferException($"{peer.RemoteEndPoint} refused '{name}' ({length} bytes).");
            }

            byte[] held = answer[1..];
            int resumed = 0;
            for (int block = 0; block < blocks; block++)
            {
                resumed += ObjectMessages.Has(held, block) ? 1 : 0;
            }

            if (resumed > 0 && !source.CanSeek)
            {
                throw new UdpObjectTransferException($"'{name}': the receiver holds {resumed} blocks from an earlier attempt, and resuming needs a seekable source.");
            }

            progress?.Report(new ObjectProgress(Math.Min(length, (long)resumed * options.BlockSize), length, resumed));
            byte[] buffer = ArrayPool<byte>.Shared.Rent(ObjectMessages.BlockHeaderSize + options.BlockSize);
            try
            {
                long sent = 0;
                int sentBlocks = 0;
                for (int block = 0; block < blocks; block++)
                {
                    if (ObjectMessages.Has(held, block))
                    {
                        continue;
                    }

                    while (sentBlocks - Interlocked.Read(ref written) >= options.MaxBlocksInFlight)
                    {
                        await WaitForProgressAsync().ConfigureAwait(false);

                        if (done.Task.IsFaulted)
                        {
                            await done.Task.ConfigureAwait(false); // throws the session's end
                        }
                    }

                    long offset = (long)block * options.BlockSize;
                    int size = (int)Math.Min(options.BlockSize, length - offset);
                    if (source.CanSeek)
                    {
                        source.Position = offset;
                    }

                    await source.ReadExactlyAsync(buffer.AsMemory(ObjectMessages.BlockHeaderSize, size), cancellationToken).ConfigureAwait(false);
                    buffer[0] = ObjectMessages.Block;
                    BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(1), transfer);
                    BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(5), offset);
                    await SendAsync(buffer.AsMemory(0, ObjectMessages.BlockHeaderSize + size)).ConfigureAwait(false);
                    sent += size;
                    sentBlocks++;
                    progress?.Report(new ObjectProgress(Math.Min(length, (resumed + Interlocked.Read(ref written)) * (long)options.BlockSize), length, resumed));
                }

                while (!done.Task.IsCompleted)
                {
                    await WaitForProgressAsync().ConfigureAwait(false);
                }

                await done.Task.ConfigureAwait(false);
                progress?.Report(new ObjectProgress(length, length, resumed));
                return sent;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        finally
        {
            host.MessageReceived -= OnMessage;
            host.PeerDisconnected -= OnDisconnected;
        }

        async Task WaitForProgressAsync()
        {
            try
            {
                await progressed.Reader.ReadAsync(cancellationToken).AsTask().WaitAsync(options.Timeout, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new UdpObjectTransferException($"'{name}': no block written by {peer.RemoteEndPoint} within {options.Timeout}.");
            }
        }

        // Queues a message, waiting (never spinning) while the peer's queue is full.
        async Task SendAsync(ReadOnlyMemory<byte> message)
        {
            while (true)
            {
                SendResult result = peer.Send(message.Span, DeliveryMode.ReliableUnordered, options.Channel);
                switch (result.Status)
                {
                    case SendStatus.Queued:
                        return;
                    case SendStatus.QueueFull:
                        await Task.Delay(1, cancellationToken).ConfigureAwait(false);
                        break;
                    default:
                        throw new UdpObjectTransferException($"Cannot send '{name}' to {peer.RemoteEndPoint}: {result.Status}.");
                }
            }
        }
    }
}

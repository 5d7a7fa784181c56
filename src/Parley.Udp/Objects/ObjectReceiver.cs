using System.Buffers.Binary;
using System.Threading.Channels;
using Microsoft.Win32.SafeHandles;

namespace Parley.Udp.Objects;

/// <summary>
/// Receives large objects from any peer of a host into a folder. A block is written at its
/// offset in <c>name.part</c>; which blocks are held is kept in <c>name.part.blocks</c>, so an
/// interrupted transfer offered again (same name, length and block size) resumes with only the
/// missing blocks. When every block is written the file is renamed to <c>name</c> and
/// <see cref="Completed"/> fires. File work runs on the receiver's own task, never on the host's
/// thread; its queue is bounded by the senders' in-flight limit (a sender exceeding it loses the
/// excess blocks, which a resume fetches again). Names are plain file names (no folders).
/// </summary>
public sealed class ObjectReceiver : IAsyncDisposable
{
    private readonly UdpHost _host;
    private readonly string _folder;
    private readonly ObjectTransferOptions _options;
    private readonly Channel<Work> _work = Channel.CreateUnbounded<Work>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<(UdpPeer, uint), Transfer> _transfers = []; // used by the writer task only
    private readonly Dictionary<(UdpPeer, uint), int> _queued = [];         // under _queuedLock: the host's handlers (several peers' at once) and the writer task
    private readonly Lock _queuedLock = new();
    private readonly Task _writer;

    private sealed record Work(UdpPeer Peer, byte Kind, uint Transfer, long Offset, byte[] Data, string Name = "", long Length = 0, int BlockSize = 0);

    private sealed class Transfer(string path, long length, int blockSize, SafeFileHandle file, byte[] bitmap)
    {
        public string Path { get; } = path;

        public long Length { get; } = length;

        public int BlockSize { get; } = blockSize;

        public SafeFileHandle File { get; } = file;

        public byte[] Bitmap { get; } = bitmap;

        public int Blocks => ObjectMessages.BlockCount(Length, BlockSize);

        public int Held { get; set; }

        public uint WrittenNow { get; set; }
    }

    /// <summary>Starts receiving into <paramref name="folder"/> (created if missing).</summary>
    public ObjectReceiver(UdpHost host, string folder, ObjectTransferOptions? options = null)
    {
        _host = host;
        _folder = Path.GetFullPath(folder);
        _options = options ?? new ObjectTransferOptions();
        Directory.CreateDirectory(_folder);
        host.MessageReceived += OnMessage;
        host.PeerDisconnected += OnPeerDisconnected;
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>An object arrived whole: the peer, the file's path, its length.</summary>
    public event Action<UdpPeer, string, long>? Completed;

    /// <summary>Blocks were written: the peer, the object's name, the progress.</summary>
    public event Action<UdpPeer, string, ObjectProgress>? Progress;

    // A host's handler (outside its lock; other peers' handlers may run at the same time): parse,
    // copy, hand over. No file work here.
    private void OnMessage(UdpPeer peer, in UdpMessage message)
    {
        ReadOnlySpan<byte> m = message.Data;
        if (message.Channel != _options.Channel || m.Length < 5)
        {
            return;
        }

        uint transfer = BinaryPrimitives.ReadUInt32LittleEndian(m[1..]);
        if (m[0] == ObjectMessages.Offer && ObjectMessages.TryDecodeOffer(m, out _, out long length, out int blockSize, out string name))
        {
            bool full;
            lock (_queuedLock)
            {
                full = _queued.Count >= _options.MaxConcurrentTransfers;
                if (!full)
                {
                    _queued[(peer, transfer)] = 0;
                    _work.Writer.TryWrite(new Work(peer, ObjectMessages.Offer, transfer, 0, [], name, length, blockSize));
                }
            }

            if (full)
            {
                peer.Send(ObjectMessages.EncodeStatus(transfer, false, []), DeliveryMode.ReliableUnordered, _options.Channel);
            }
        }
        else if (m[0] == ObjectMessages.Block && m.Length > ObjectMessages.BlockHeaderSize)
        {
            lock (_queuedLock)
            {
                if (!_queued.TryGetValue((peer, transfer), out int queued) || queued >= 2 * _options.MaxBlocksInFlight)
                {
                    return; // not offered, or past the sender's own limit: dropped, a resume fetches it again
                }

                _queued[(peer, transfer)] = queued + 1;
                _work.Writer.TryWrite(new Work(peer, ObjectMessages.Block, transfer, BinaryPrimitives.ReadInt64LittleEndian(m[5..]), m[ObjectMessages.BlockHeaderSize..].ToArray()));
            }
        }
    }

    // A host's handler, after the peer's last message: forget its transfers (their .part files stay for a resume).
    private void OnPeerDisconnected(UdpPeer peer)
    {
        lock (_queuedLock)
        {
            foreach ((UdpPeer Peer, uint Transfer) key in _queued.Keys.Where(k => k.Item1 == peer).ToList())
            {
                _queued.Remove(key);
                _work.Writer.TryWrite(new Work(peer, ObjectMessages.Done, key.Transfer, 0, []));
            }
        }
    }

    private async Task WriteLoopAsync()
    {
        await foreach (Work work in _work.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                if (work.Kind == ObjectMessages.Offer)
                {
                    Open(work);
                }
                else if (work.Kind == ObjectMessages.Done)
                {
                    Close(work.Peer, work.Transfer); // the session ended
                }
                else
                {
                    Write(work);
                }
            }
            catch (IOException)
            {
                Refuse(work.Peer, work.Transfer); // disk full, file locked: refused or left incomplete for a later resume
            }
            catch (UnauthorizedAccessException)
            {
                Refuse(work.Peer, work.Transfer);
            }
        }
    }

    private void Open(Work offer)
    {
        string name = offer.Name;
        bool plainName = name.Length is > 0 and <= 255 && name == Path.GetFileName(name) && name is not "." and not ".." && name.IndexOfAny(Path.GetInvalidFileNameChars()) < 0;
        if (!plainName || offer.Length > _options.MaxObjectBytes || offer.BlockSize > _host.Options.MaxMessageSize - ObjectMessages.BlockHeaderSize)
        {
            Refuse(offer.Peer, offer.Transfer);
            return;
        }

        string path = Path.Combine(_folder, name);
        string part = path + ".part", map = part + ".blocks";
        int blocks = ObjectMessages.BlockCount(offer.Length, offer.BlockSize);
        byte[] bitmap = new byte[(blocks + 7) / 8];
        if (File.Exists(part) && File.Exists(map) && ReadMap(map, offer.Length, offer.BlockSize, bitmap))
        {
            // resume: keep what is there
        }
        else
        {
            File.Delete(map);
            using (FileStream fresh = File.Create(part))
            {
                fresh.SetLength(offer.Length);
            }
        }

#pragma warning disable CA2000 // the handle belongs to the transfer: disposed in Finish, Refuse or DisposeAsync
        var transfer = new Transfer(path, offer.Length, offer.BlockSize, File.OpenHandle(part, FileMode.Open, FileAccess.ReadWrite), bitmap);
#pragma warning restore CA2000
        for (int i = 0; i < blocks; i++)
        {
            transfer.Held += ObjectMessages.Has(bitmap, i) ? 1 : 0;
        }

        _transfers[(offer.Peer, offer.Transfer)] = transfer;
        offer.Peer.Send(ObjectMessages.EncodeStatus(offer.Transfer, true, bitmap), DeliveryMode.ReliableUnordered, _options.Channel);
        if (transfer.Held == blocks)
        {
            Finish(offer.Peer, offer.Transfer, transfer);
        }
    }

    private void Write(Work block)
    {
        DecrementQueued(block.Peer, block.Transfer);
        if (!_transfers.TryGetValue((block.Peer, block.Transfer), out Transfer? transfer) || block.Offset % transfer.BlockSize != 0 || block.Offset >= transfer.Length)
        {
            return;
        }

        int index = (int)(block.Offset / transfer.BlockSize);
        if (block.Data.Length != Math.Min(transfer.BlockSize, transfer.Length - block.Offset) || ObjectMessages.Has(transfer.Bitmap, index))
        {
            return;
        }

        RandomAccess.Write(transfer.File, block.Data, block.Offset);
        ObjectMessages.Set(transfer.Bitmap, index);
        transfer.Held++;
        transfer.WrittenNow++;
        if (transfer.Held == transfer.Blocks)
        {
            Finish(block.Peer, block.Transfer, transfer);
            return;
        }

        if (transfer.WrittenNow % 8 == 0)
        {
            WriteMap(transfer.Path + ".part.blocks", transfer);
            block.Peer.Send(ObjectMessages.EncodeCount(ObjectMessages.Written, block.Transfer, transfer.WrittenNow), DeliveryMode.ReliableUnordered, _options.Channel);
            Progress?.Invoke(block.Peer, Path.GetFileName(transfer.Path), new ObjectProgress(Math.Min(transfer.Length, (long)transfer.Held * transfer.BlockSize), transfer.Length, 0));
        }
    }

    private void DecrementQueued(UdpPeer peer, uint transfer)
    {
        lock (_queuedLock)
        {
            if (_queued.TryGetValue((peer, transfer), out int queued) && queued > 0)
            {
                _queued[(peer, transfer)] = queued - 1;
            }
        }
    }

    private void Finish(UdpPeer peer, uint id, Transfer transfer)
    {
        transfer.File.Dispose();
        File.Move(transfer.Path + ".part", transfer.Path, overwrite: true);
        File.Delete(transfer.Path + ".part.blocks");
        _transfers.Remove((peer, id));
        lock (_queuedLock)
        {
            _queued.Remove((peer, id));
        }

        peer.Send(ObjectMessages.EncodeCount(ObjectMessages.Written, id, transfer.WrittenNow), DeliveryMode.ReliableUnordered, _options.Channel);
        peer.Send(ObjectMessages.EncodeCount(ObjectMessages.Done, id, 0), DeliveryMode.ReliableUnordered, _options.Channel);
        Progress?.Invoke(peer, Path.GetFileName(transfer.Path), new ObjectProgress(transfer.Length, transfer.Length, 0));
        Completed?.Invoke(peer, transfer.Path, transfer.Length);
    }

    private void Close(UdpPeer peer, uint transfer)
    {
        if (_transfers.Remove((peer, transfer), out Transfer? open))
        {
            WriteMap(open.Path + ".part.blocks", open);
            open.File.Dispose();
        }
    }

    private void Refuse(UdpPeer peer, uint transfer)
    {
        Close(peer, transfer);
        lock (_queuedLock)
        {
            _queued.Remove((peer, transfer));
        }

        peer.Send(ObjectMessages.EncodeStatus(transfer, false, []), DeliveryMode.ReliableUnordered, _options.Channel);
    }

    private static bool ReadMap(string map, long length, int blockSize, byte[] bitmap)
    {
        byte[] bytes = File.ReadAllBytes(map);
        if (bytes.Length != 12 + bitmap.Length || BinaryPrimitives.ReadInt64LittleEndian(bytes) != length || BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8)) != blockSize)
        {
            return false;
        }

        bytes.AsSpan(12).CopyTo(bitmap);
        return true;
    }

    private static void WriteMap(string map, Transfer transfer)
    {
        byte[] bytes = new byte[12 + transfer.Bitmap.Length];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, transfer.Length);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), transfer.BlockSize);
        transfer.Bitmap.CopyTo(bytes, 12);
        File.WriteAllBytes(map, bytes); // the blocks it names were written before it (a crash may only forget some)
    }

    /// <summary>Stops receiving; transfers in progress keep their <c>.part</c> files for a later resume.</summary>
    public async ValueTask DisposeAsync()
    {
        _host.MessageReceived -= OnMessage;
        _host.PeerDisconnected -= OnPeerDisconnected;
        _work.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
        foreach (Transfer transfer in _transfers.Values)
        {
            WriteMap(transfer.Path + ".part.blocks", transfer);
            transfer.File.Dispose();
        }

        _transfers.Clear();
    }
}

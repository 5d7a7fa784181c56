namespace Parley.Chat;

/// <summary>
/// The journal ids of one room's messages, ascending, packed: each id is stored as its
/// difference from the previous one in a variable-length integer (one byte while a room gets
/// at least one message in 128 of the server's), with the id and position of every
/// <see cref="Block"/>-th one kept beside them to start decoding from. About 1.2 bytes per
/// message for a room among a few dozen busy ones. Not thread-safe (the room locks it).
/// </summary>
/// <remarks>
/// It lets a <c>history</c> request older than the room's in-memory history find which
/// journal records are the room's without reading anyone else's. The journal deletes its
/// oldest segments past its size limit; <see cref="TrimBefore"/> drops the ids it no longer
/// keeps, so the list is bounded by the journal's own retention.
/// </remarks>
internal sealed class MessageIdList
{
    public const int Block = 128;

    private byte[] _bytes = new byte[64];
    private int _start; // the first live byte (trimmed blocks are dropped from the front)
    private int _length; // end of the live bytes
    private long[] _blockIds = new long[4]; // each block's first id
    private int[] _blockOffsets = new int[4]; // and where its first id's delta starts
    private int _firstBlock;
    private int _blocks;
    private int _inLastBlock;
    private long _last;
    private long _firstKept; // the oldest id kept: ids below it in the first block are trimmed logically

    /// <summary>Ids held (including up to <see cref="Block"/> − 1 below <see cref="First"/>, trimmed but not yet freed).</summary>
    public long Count => _blocks == _firstBlock ? 0 : ((long)(_blocks - _firstBlock - 1) * Block) + _inLastBlock;

    /// <summary>The oldest id kept; 0 when none.</summary>
    public long First => _blocks == _firstBlock ? 0 : _firstKept;

    /// <summary>Bytes held (arrays at their capacity).</summary>
    public long HeldBytes => _bytes.LongLength + (_blockIds.LongLength * sizeof(long)) + (_blockOffsets.LongLength * sizeof(int));

    /// <summary>Appends an id; ids at or below the last one are ignored.</summary>
    public void Add(long id)
    {
        if (id <= _last)
        {
            return;
        }

        if (_blocks == _firstBlock)
        {
            _firstKept = id;
        }

        if (_blocks == _firstBlock || _inLastBlock == Block)
        {
            if (_blocks == _blockIds.Length)
            {
                CompactOrGrowBlocks();
            }

            _blockIds[_blocks] = id;
            _blockOffsets[_blocks] = _length;
            _blocks++;
            _inLastBlock = 0;
        }

        ulong delta = (ulong)(id - _last);
        if (_bytes.Length - _length < 10)
        {
            CompactOrGrowBytes();
        }

        while (delta >= 0x80)
        {
            _bytes[_length++] = (byte)(delta | 0x80);
            delta >>= 7;
        }

        _bytes[_length++] = (byte)delta;
        _inLastBlock++;
        _last = id;
    }

    /// <summary>Whether an id below <paramref name="id"/> is kept.</summary>
    public bool HasBefore(long id) => _blocks > _firstBlock && _firstKept < id;

    /// <summary>
    /// Puts the newest (at most <paramref name="limit"/>) ids below <paramref name="before"/> into
    /// <paramref name="into"/>, ascending; returns whether older ones are kept too.
    /// </summary>
    public bool NewestBefore(long before, int limit, List<long> into)
    {
        into.Clear();
        if (_blocks == _firstBlock || limit <= 0 || _firstKept >= before)
        {
            return false;
        }

        // The last block starting below 'before', then far enough back to hold 'limit' ids.
        int lo = _firstBlock, hi = _blocks - 1, last = _firstBlock;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_blockIds[mid] < before)
            {
                last = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        int from = Math.Max(_firstBlock, last - ((limit + Block - 1) / Block));
        long id = PreviousOf(from);
        int offset = _blockOffsets[from];
        while (offset < _length)
        {
            id += DeltaAt(offset, out offset);
            if (id >= before)
            {
                break;
            }

            if (id >= _firstKept)
            {
                into.Add(id);
            }
        }

        // At most 'limit' + 2 blocks were decoded; the page is the newest 'limit' of them.
        into.RemoveRange(0, Math.Max(0, into.Count - limit));
        return into.Count > 0 && _firstKept < into[0];
    }

    /// <summary>Drops the ids below <paramref name="first"/> (the space they took goes a whole block at a time).</summary>
    public void TrimBefore(long first)
    {
        if (_blocks == _firstBlock || first <= _firstKept)
        {
            return;
        }

        while (_blocks - _firstBlock > 1 && _blockIds[_firstBlock + 1] <= first)
        {
            _firstBlock++;
        }

        _start = _blockOffsets[_firstBlock];

        // The oldest id left: the first at or past 'first' in the first block, or none at all.
        long id = PreviousOf(_firstBlock);
        int offset = _blockOffsets[_firstBlock];
        while (offset < _length)
        {
            id += DeltaAt(offset, out offset);
            if (id >= first)
            {
                _firstKept = id;
                return;
            }
        }

        Clear();
    }

    public void Clear()
    {
        _bytes = new byte[64];
        _start = _length = 0;
        _blockIds = new long[4];
        _blockOffsets = new int[4];
        _firstBlock = _blocks = _inLastBlock = 0;
        _firstKept = 0;
        // _last stays: ids keep ascending after a clear.
    }

    /// <summary>The id before block <paramref name="block"/>'s first one (its delta's base).</summary>
    private long PreviousOf(int block) => _blockIds[block] - DeltaAt(_blockOffsets[block], out _);

    private long DeltaAt(int offset, out int next)
    {
        ulong delta = 0;
        int shift = 0;
        byte b;
        do
        {
            b = _bytes[offset++];
            delta |= (ulong)(b & 0x7F) << shift;
            shift += 7;
        }
        while ((b & 0x80) != 0);

        next = offset;
        return (long)delta;
    }

    private void CompactOrGrowBytes()
    {
        int live = _length - _start;
        byte[] target = live + 10 <= _bytes.Length / 2 ? _bytes : new byte[Math.Max(64, (live + 10) * 2)];
        Buffer.BlockCopy(_bytes, _start, target, 0, live);
        for (int i = _firstBlock; i < _blocks; i++)
        {
            _blockOffsets[i] -= _start;
        }

        _bytes = target;
        _length = live;
        _start = 0;
    }

    private void CompactOrGrowBlocks()
    {
        int live = _blocks - _firstBlock;
        bool grow = live + 1 > _blockIds.Length / 2;
        long[] ids = grow ? new long[_blockIds.Length * 2] : _blockIds;
        int[] offsets = grow ? new int[_blockOffsets.Length * 2] : _blockOffsets;
        Array.Copy(_blockIds, _firstBlock, ids, 0, live);
        Array.Copy(_blockOffsets, _firstBlock, offsets, 0, live);
        _blockIds = ids;
        _blockOffsets = offsets;
        _firstBlock = 0;
        _blocks = live;
    }
}

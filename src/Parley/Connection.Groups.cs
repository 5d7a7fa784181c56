namespace Parley;

public sealed partial class Connection
{
    // Usually zero to a handful of groups per connection: a list under a lock is the cheapest.
    private readonly List<ConnectionGroup> _groups = [];

    internal bool IsFinalized => Volatile.Read(ref _finalized) != 0;

    /// <summary>Records membership so the connection can leave its groups when it closes.</summary>
    internal bool TrackGroup(ConnectionGroup group)
    {
        lock (_groups)
        {
            if (_finalized != 0)
            {
                return false;
            }

            if (!_groups.Contains(group))
            {
                _groups.Add(group);
            }

            return true;
        }
    }

    internal void UntrackGroup(ConnectionGroup group)
    {
        lock (_groups)
        {
            _groups.Remove(group);
        }
    }

    private void LeaveAllGroups()
    {
        ConnectionGroup[] groups;
        lock (_groups)
        {
            groups = [.. _groups];
            _groups.Clear();
        }

        foreach (ConnectionGroup group in groups)
        {
            group.RemoveMember(this);
        }
    }
}

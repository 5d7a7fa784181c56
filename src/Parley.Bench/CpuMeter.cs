using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Parley.Bench;

/// <summary>CPU time of this process and the peer over a measured interval, as percent of one core.</summary>
internal sealed class CpuMeter(Process peer)
{
    private TimeSpan _self;
    private TimeSpan _peer;

    public void Start()
    {
        _self = Process.GetCurrentProcess().TotalProcessorTime;
        peer.Refresh();
        _peer = peer.TotalProcessorTime;
    }

    public JsonObject Stop(double seconds)
    {
        TimeSpan self = Process.GetCurrentProcess().TotalProcessorTime - _self;
        peer.Refresh();
        TimeSpan other = peer.TotalProcessorTime - _peer;
        return new JsonObject
        {
            ["this_process"] = Math.Round(self.TotalSeconds / seconds * 100, 1),
            ["peer_process"] = Math.Round(other.TotalSeconds / seconds * 100, 1),
        };
    }
}

using Parley.Ipc;

namespace Parley.Bench;

/// <summary>What <c>parley bench ipc</c> was asked to do.</summary>
internal sealed record IpcBenchSettings(string Pattern, int Size, TimeSpan Duration, IpcWaitStrategy Wait, int Ring);

namespace Parley;

/// <summary>What <see cref="MessageFramer.TryParse"/> found at the start of the buffer.</summary>
public enum FrameParseStatus
{
    /// <summary>The buffer holds no complete frame yet; read more and try again.</summary>
    NeedMoreData,

    /// <summary>A complete message; deliver the payload and continue after <c>consumed</c>.</summary>
    Message,

    /// <summary>A keep-alive frame: skip it (it is never delivered to the application).</summary>
    KeepAlive,

    /// <summary>The frame announces or reaches a size above the limit: a protocol violation.</summary>
    FrameTooLarge,

    /// <summary>The bytes cannot be a frame of this format: a protocol violation.</summary>
    Malformed,
}

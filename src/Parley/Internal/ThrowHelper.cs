using System.Diagnostics.CodeAnalysis;

namespace Parley.Internal;

/// <summary>Throwing code kept out of hot methods so they stay small and inlineable.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void ThrowMessageTooLarge(int length, int max) =>
        throw new ArgumentException($"The message is {length} bytes; the framer's limit is {max} bytes.");

    [DoesNotReturn]
    public static void ThrowInvalidContiguousParse(MessageFramer framer, int available, int payloadOffset, int payloadLength, int frameLength) =>
        throw new InvalidOperationException(
            $"{framer.GetType().Name}.TryParseContiguous answered a frame of {frameLength} bytes with a payload of {payloadLength} bytes at {payloadOffset}, " +
            $"which does not lie inside the {available} bytes it was given.");

    [DoesNotReturn]
    public static void ThrowEmptyMessage() =>
        throw new ArgumentException("An empty message cannot be sent: on the wire it would be a keep-alive, which is never delivered.");

    [DoesNotReturn]
    public static void ThrowLineContainsNewline() =>
        throw new ArgumentException("A line-framed message cannot contain a line feed.");

    [DoesNotReturn]
    public static void ThrowFrameReleased() =>
        throw new InvalidOperationException("The frame was used after the caller's last reference to it was released.");

    [DoesNotReturn]
    public static void ThrowFrameOverReleased() =>
        throw new InvalidOperationException("The frame was released more times than references were added (a double release); the release was ignored.");

    [DoesNotReturn]
    public static void ThrowReaderAlreadyClaimed() =>
        throw new InvalidOperationException("This connection's messages are already being read (by the event pump or another reader).");

    [DoesNotReturn]
    public static void ThrowConnectionClosed(CloseReason reason) =>
        throw new ConnectionClosedException(reason);

    [DoesNotReturn]
    public static void ThrowAlreadyStarted() =>
        throw new InvalidOperationException("Already started.");
}

namespace Parley.Http;

/// <summary>What <see cref="HttpRequestParser.TryParse(in System.Buffers.ReadOnlySequence{byte}, HttpRequestHead, out long)"/> found.</summary>
public enum HttpParseStatus
{
    /// <summary>The head is not complete yet; call again with the same bytes and more.</summary>
    NeedMoreData,

    /// <summary>A whole head was parsed; its bytes are counted in <c>consumed</c>.</summary>
    Complete,

    /// <summary>The bytes are not a request this server accepts:
    /// <see cref="HttpRequestHead.ErrorStatus"/> is the status to answer with (400, 414, 431,
    /// 501 or 505) and <see cref="HttpRequestHead.ErrorReason"/> says why. The connection must
    /// close after the answer: where the next request starts is unknown.</summary>
    Invalid,
}

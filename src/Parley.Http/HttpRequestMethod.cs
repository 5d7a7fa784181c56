namespace Parley.Http;

/// <summary>The request methods a server tells apart; any other valid token is <see cref="Other"/>.</summary>
public enum HttpRequestMethod
{
    /// <summary>A method token this enum does not name; <see cref="HttpRequestHead.MethodBytes"/> has it.</summary>
    Other,

    /// <summary>GET.</summary>
    Get,

    /// <summary>HEAD: a GET whose response carries the head only.</summary>
    Head,

    /// <summary>POST.</summary>
    Post,

    /// <summary>PUT.</summary>
    Put,

    /// <summary>DELETE.</summary>
    Delete,

    /// <summary>OPTIONS.</summary>
    Options,

    /// <summary>PATCH.</summary>
    Patch,

    /// <summary>TRACE.</summary>
    Trace,

    /// <summary>CONNECT.</summary>
    Connect,
}

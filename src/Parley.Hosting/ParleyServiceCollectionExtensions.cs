using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Parley.Chat;

namespace Parley.Hosting;

/// <summary>Adds Parley's servers to a Generic Host (<c>builder.Services</c>).</summary>
public static class ParleyServiceCollectionExtensions
{
    /// <summary>The names of the health checks <see cref="AddParleyChat"/> adds.</summary>
    public const string ChatListeningCheck = "parley-chat-listening";

    /// <inheritdoc cref="ChatListeningCheck"/>
    public const string JournalWritableCheck = "parley-chat-journal-writable";

    /// <inheritdoc cref="ChatListeningCheck"/>
    public const string BackplaneConnectedCheck = "parley-chat-cluster-connected";

    /// <summary>
    /// Runs a framed TCP server with the host, each connection served by <typeparamref name="THandler"/>
    /// (a singleton from DI). Its <see cref="ParleyServerSettings"/> are bound from
    /// <paramref name="configuration"/> (a section such as <c>builder.Configuration.GetSection("Parley:Echo")</c>)
    /// and checked when the host starts; <paramref name="configure"/> then sets what configuration
    /// cannot (middleware, a <see cref="TimeProvider"/>, listeners of your own). Adds the health
    /// check <c>parley-server-{section}-listening</c> (tags <c>live</c>, <c>ready</c>). Several servers,
    /// each with its own handler type, can run in one host.
    /// </summary>
    public static IServiceCollection AddParleyServer<[System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicConstructors)] THandler>(this IServiceCollection services, IConfiguration configuration, Action<ParleyServerOptions>? configure = null)
        where THandler : ParleyConnectionHandler
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        string name = configuration is IConfigurationSection section ? section.Path : "Parley:Server";
        services.AddOptions<ParleyServerSettings>(name).Bind(configuration).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ParleyServerSettings>>(new SettingsValidator(name, name));
        services.TryAddSingleton<THandler>();
        services.AddSingleton(new ParleyServerRegistration<THandler>(name, configure));
        services.AddSingleton<ParleyServerService<THandler>>();
        services.AddHostedService(provider => provider.GetRequiredService<ParleyServerService<THandler>>());
        services.AddHealthChecks().AddCheck<ServerListeningHealthCheck<THandler>>($"parley-server-{name}-listening", tags: ["live", "ready"]);
        return services;
    }

    /// <summary>
    /// Runs the Parley chat server with the host. Its <see cref="ParleyChatSettings"/> are bound from
    /// <paramref name="configuration"/> (a section such as <c>builder.Configuration.GetSection("Parley:Chat")</c>)
    /// and checked when the host starts; <paramref name="configure"/> then sets what configuration
    /// cannot (a <see cref="TimeProvider"/>, a backplane of your own, rooms in code). Adds the health
    /// checks <see cref="ChatListeningCheck"/> (tags <c>live</c>, <c>ready</c>),
    /// <see cref="JournalWritableCheck"/> and <see cref="BackplaneConnectedCheck"/> (<c>ready</c>).
    /// </summary>
    public static IServiceCollection AddParleyChat(this IServiceCollection services, IConfiguration configuration, Action<ChatServerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        string name = configuration is IConfigurationSection section ? section.Path : "Parley:Chat";
        services.AddOptions<ParleyChatSettings>(name).Bind(configuration).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ParleyChatSettings>>(new SettingsValidator(name, name));
        services.AddSingleton(new ParleyChatRegistration(name, configure));
        services.AddSingleton<ParleyChatService>();
        services.AddHostedService(provider => provider.GetRequiredService<ParleyChatService>());
        services.AddHealthChecks()
            .AddCheck<ChatListeningHealthCheck>(ChatListeningCheck, tags: ["live", "ready"])
            .AddCheck<JournalWritableHealthCheck>(JournalWritableCheck, tags: ["ready"])
            .AddCheck<BackplaneConnectedHealthCheck>(BackplaneConnectedCheck, tags: ["ready"]);
        return services;
    }
}

using Microsoft.Extensions.FileProviders;

// Usage: KestrelStatic ROOT PORT — serves ROOT on 127.0.0.1:PORT with UseStaticFiles.
string root = Path.GetFullPath(args.Length > 0 ? args[0] : ".");
int port = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 8082;
WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(k => k.ListenLocalhost(port));
WebApplication app = builder.Build();
app.UseStaticFiles(new StaticFileOptions { FileProvider = new PhysicalFileProvider(root), ServeUnknownFileTypes = true });
app.Run();

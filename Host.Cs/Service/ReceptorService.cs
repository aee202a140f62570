using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Receptor.Host.Service;

/// <summary>A study to create, as POST /api/studies takes it.</summary>
/// <param name="Name">The study's name: letters, digits, '-', '_' and '.'.</param>
/// <param name="Space">The search space's text.</param>
/// <param name="Options">The search; null for the defaults.</param>
/// <param name="Run">Whether to start a worker in the service at once.</param>
public sealed record CreateStudyRequest(string Name, string Space, StudyOptions? Options = null, bool Run = false);

/// <summary>A study in the list.</summary>
public sealed record StudyEntry(string Name, bool Running);

/// <summary>A study's state and whether the service runs a worker of it.</summary>
public sealed record StudyView(StudyStatus Status, bool Running);

/// <summary>What went wrong with a request, and where.</summary>
public sealed record ProblemView(string Error, string? File = null, int? Line = null, int? Column = null, string? LayerPath = null, string? Hint = null);

/// <summary>Receptor over HTTP (<c>receptor serve</c>): analysis, initialisation reports, effective receptive fields and studies, with an OpenAPI document at <c>/openapi/v1.json</c>.</summary>
/// <remarks>
/// It binds loopback unless told otherwise. Writing endpoints (creating and running studies) need the bearer
/// token written at first start to <c>STUDY_FOLDER/.receptor-token</c> (mode 0600). Bodies, bracket nesting and
/// analysis time are limited (<see cref="ServiceOptions"/>); study names are checked so that no path leaves the
/// study folder.
/// </remarks>
public sealed class ReceptorService : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly StudyCatalog catalog;

    private ReceptorService(WebApplication app, StudyCatalog catalog, Uri address, string tokenPath)
    {
        this.app = app;
        this.catalog = catalog;
        Address = address;
        TokenPath = tokenPath;
    }

    /// <summary>Where the service listens.</summary>
    public Uri Address { get; }

    /// <summary>The file holding the bearer token of the writing endpoints.</summary>
    public string TokenPath { get; }

    /// <summary>Starts the service; it runs until disposed.</summary>
    /// <exception cref="ReceptorException">The address or the store is unusable.</exception>
    public static async Task<ReceptorService> StartAsync(ServiceOptions options, CancellationToken cancellationToken = default)
    {
        if (!IPAddress.TryParse(options.Address, out var ip))
            throw new ReceptorException($"Address expects an IP address, got '{options.Address}'", null, null, null, null, null);
        var folder = Path.GetFullPath(options.StudyFolder);
        var token = Token.LoadOrCreate(folder);
        var storage = options.Storage is null ? null : Failures.Unwrap(Receptor.Search.StorageModule.parse(options.Storage));
        var catalog = new StudyCatalog(folder, storage);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            kestrel.Listen(ip, options.Port);
        });
        builder.Services.ConfigureHttpJsonOptions(json => Configure(json.SerializerOptions));
        builder.Services.AddOpenApi();
        var app = builder.Build();
        app.MapOpenApi();
        Map(app, options, catalog, token);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new ReceptorService(app, catalog, new Uri(bound), Path.Combine(folder, Token.FileName));
    }

    /// <summary>Completes when the service stops (Ctrl-C or SIGTERM when run by <c>receptor serve</c>).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => app.WaitForShutdownAsync(cancellationToken);

    /// <summary>Stops the service and its workers (their trials under way go back to the queue).</summary>
    public async ValueTask DisposeAsync()
    {
        // Requests first, so that none starts a worker the catalog would not stop.
        await app.StopAsync().ConfigureAwait(false);
        await catalog.DisposeAsync().ConfigureAwait(false);
        await app.DisposeAsync().ConfigureAwait(false);
    }

    private static void Configure(JsonSerializerOptions json)
    {
        // A global receptive field is infinite.
        json.NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals;
        json.PropertyNamingPolicy = JsonNamingPolicy.CamelCase;
    }

    private static readonly JsonSerializerOptions EventJson = Json();

    private static JsonSerializerOptions Json()
    {
        var json = new JsonSerializerOptions();
        Configure(json);
        return json;
    }

    private static IResult Problem(int status, string message) => Results.Json(new ProblemView(message), statusCode: status);

    /// <summary>Runs a handler, turning bad input into 4xx answers that name the place.</summary>
    private static async Task<IResult> Guard(Func<Task<IResult>> handler)
    {
        try
        {
            return await handler().ConfigureAwait(false);
        }
        catch (ReceptorException e)
        {
            return Results.Json(new ProblemView(e.Message, e.File, e.Line, e.Column, e.LayerPath, e.Hint), statusCode: StatusCodes.Status400BadRequest);
        }
        catch (BadHttpRequestException e)
        {
            return Problem(e.StatusCode, e.StatusCode == StatusCodes.Status413PayloadTooLarge ? "the body is larger than the service takes" : e.Message);
        }
        catch (JsonException e)
        {
            return Problem(StatusCodes.Status400BadRequest, $"the body is not the JSON expected: {e.Message}");
        }
        catch (TimeoutException e)
        {
            return Problem(StatusCodes.Status422UnprocessableEntity, e.Message);
        }
    }

    /// <summary>The body as text, refused before parsing when its brackets nest deeper than the limit.</summary>
    private static async Task<string> Architecture(HttpRequest request, ServiceOptions options)
    {
        using var reader = new StreamReader(request.Body);
        var text = await reader.ReadToEndAsync(request.HttpContext.RequestAborted).ConfigureAwait(false);
        var nesting = Limits.Nesting(text);
        if (nesting > options.MaxNesting)
            throw new ReceptorException($"brackets nest {nesting} deep; the service takes at most {options.MaxNesting}", null, null, null, null, null);
        return text;
    }

    /// <summary>Work bounded in time: a slower one answers 422 (and is left to finish in the background).</summary>
    private static Task<T> Bounded<T>(Func<T> work, ServiceOptions options) =>
        Task.Run(work).WaitAsync(options.AnalysisTime).ContinueWith(t =>
            t.Exception?.InnerException is TimeoutException
                ? throw new TimeoutException($"the analysis took longer than {options.AnalysisTime.TotalSeconds:F0} s")
                : t.GetAwaiter().GetResult(), TaskScheduler.Default);

    private static IResult? Refused(HttpRequest request, string token) =>
        Token.Allows(token, request.Headers.Authorization) ? null : Problem(StatusCodes.Status401Unauthorized, "this endpoint writes: send Authorization: Bearer TOKEN (the token is in the study folder's .receptor-token)");

    private static IResult? BadName(string name) =>
        Limits.IsStudyName(name) ? null : Problem(StatusCodes.Status400BadRequest, "a study's name is 1 to 100 letters, digits, '-', '_' or '.', not starting with '.'");

    /// <summary>Why a request cannot reach the named study (a bad name: 400; no such study: 404), or null.</summary>
    private static IResult? Unreachable(StudyCatalog catalog, string name) =>
        BadName(name) ?? (catalog.Exists(name) ? null : Problem(StatusCodes.Status404NotFound, $"no study '{name}'"));

    /// <summary>A file of the dashboard, embedded in this assembly.</summary>
    private static IResult Dashboard(string file)
    {
        var stream = typeof(ReceptorService).Assembly.GetManifestResourceStream("dashboard/" + file);
        if (stream is null)
            return Results.NotFound();
        var type = Path.GetExtension(file) switch
        {
            ".html" => "text/html; charset=utf-8",
            ".js" => "text/javascript; charset=utf-8",
            ".css" => "text/css; charset=utf-8",
            _ => "application/octet-stream",
        };
        return Results.Stream(stream, type);
    }

    /// <summary>A measurement (which runs networks) bounded in cost, in number at once and in time.</summary>
    private static async Task<IResult> Measured<T>(
        string text, long samples, ServiceOptions options, SemaphoreSlim slots, Func<Task<T>> measure, Func<T, IResult> answer)
    {
        var cost = (double)Host.Architecture.Analyze(text, "<request>").MultiplyAccumulates * samples;
        if (cost > options.MaxMeasuredMacs)
            return Problem(StatusCodes.Status422UnprocessableEntity, $"measuring this network costs {cost:G3} multiply-accumulates; the service measures at most {options.MaxMeasuredMacs:G3}");
        if (!await slots.WaitAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false))
            return Problem(StatusCodes.Status503ServiceUnavailable, "the service is measuring other networks: try again");
        try
        {
            return answer(await measure().WaitAsync(options.AnalysisTime).ConfigureAwait(false));
        }
        finally
        {
            slots.Release();
        }
    }

    private static void Map(WebApplication app, ServiceOptions options, StudyCatalog catalog, string token)
    {
        var slots = new SemaphoreSlim(Math.Max(1, options.ConcurrentMeasurements));

        // A page on another site may post to a loopback service (text/plain needs no preflight): requests that
        // say they come from another origin are refused.
        app.Use(async (context, next) =>
        {
            // A body announced too large is refused before anything reads it.
            if (context.Request.ContentLength > options.MaxBodyBytes)
            {
                await Problem(StatusCodes.Status413PayloadTooLarge, "the body is larger than the service takes").ExecuteAsync(context).ConfigureAwait(false);
                return;
            }
            var origin = context.Request.Headers.Origin.ToString();
            if (origin.Length > 0 && !(Uri.TryCreate(origin, UriKind.Absolute, out var from) && from.Authority == context.Request.Host.Value))
            {
                await Problem(StatusCodes.Status403Forbidden, $"requests from {origin} are refused: the service answers its own pages and programs").ExecuteAsync(context).ConfigureAwait(false);
                return;
            }
            await next(context).ConfigureAwait(false);
        });

        app.MapGet("/", () => Dashboard("index.html")).ExcludeFromDescription();
        app.MapGet("/dashboard/{file}", (string file) => Dashboard(file)).ExcludeFromDescription();

        var api = app.MapGroup("/api");

        api.MapGet("/health", () => Results.Text("ok"));

        api.MapPost("/analyse", (HttpRequest request, string? format) => Guard(async () =>
        {
            var text = await Architecture(request, options).ConfigureAwait(false);
            return format == "table"
                ? Results.Text(await Bounded(() => Host.Architecture.Table(text, "<request>"), options).ConfigureAwait(false))
                : Results.Json(await Bounded(() => Host.Architecture.Analyze(text, "<request>"), options).ConfigureAwait(false));
        })).Accepts<string>("text/plain").Produces<ArchitectureReport>().Produces<ProblemView>(400);

        api.MapPost("/initialisation", (HttpRequest request, string? method, int? seeds, int? batch) => Guard(async () =>
        {
            var text = await Architecture(request, options).ConfigureAwait(false);
            var init = new InitialisationOptions(Method: method ?? "autoinit");
            int draws = Math.Clamp(seeds ?? 4, 2, 32), size = Math.Clamp(batch ?? 8, 2, 64);
            return await Measured(text, draws * size, options, slots,
                () => Initialisation.CompareAsync(text, init, draws, size, "<request>"), comparison => Results.Json(comparison)).ConfigureAwait(false);
        })).Accepts<string>("text/plain").Produces<InitialisationComparison>().Produces<ProblemView>(400);

        api.MapPost("/erf", (HttpRequest request, string? layer, int? samples, string? format) => Guard(async () =>
        {
            var text = await Architecture(request, options).ConfigureAwait(false);
            var count = Math.Clamp(samples ?? 8, 1, 64);
            // A backward pass for each forward one.
            return await Measured(text, 3L * count, options, slots,
                () => ReceptiveFields.EffectiveAsync(text, new EffectiveFieldOptions(layer, count), "<request>"),
                field => format == "json" ? Results.Json(field) : Results.File(field.Png, "image/png")).ConfigureAwait(false);
        })).Accepts<string>("text/plain").Produces(200, contentType: "image/png").Produces<ProblemView>(400);

        var studies = api.MapGroup("/studies");

        studies.MapGet("/", () => Guard(() =>
            Task.FromResult(Results.Json(catalog.Names().Select(n => new StudyEntry(n, catalog.IsRunning(n))).ToList()))));

        studies.MapPost("/", (HttpRequest request, CreateStudyRequest body) => Guard(() =>
        {
            if (Refused(request, token) is { } refused)
                return Task.FromResult(refused);
            if (body.Name is null || body.Space is null)
                return Task.FromResult(Problem(StatusCodes.Status400BadRequest, "a study needs a name and a space"));
            if (BadName(body.Name) is { } bad)
                return Task.FromResult(bad);
            if (Limits.Nesting(body.Space) > options.MaxNesting)
                return Task.FromResult(Problem(StatusCodes.Status400BadRequest, $"the space's brackets nest deeper than {options.MaxNesting}"));
            var study = catalog.Create(body.Name, body.Space, body.Options ?? new StudyOptions());
            if (body.Run)
                catalog.Start(body.Name);
            return Task.FromResult(Results.Json(new StudyView(study.Status(), catalog.IsRunning(body.Name)), statusCode: StatusCodes.Status201Created));
        }));

        studies.MapGet("/{name}", (string name) => WithStudy(catalog, name, study =>
            Results.Json(new StudyView(study.Status(), catalog.IsRunning(name)))));

        studies.MapGet("/{name}/leaderboard", (string name, int? top) => WithStudy(catalog, name, study =>
            Results.Json(study.Leaderboard(Math.Clamp(top ?? 10, 1, 1000)))));

        studies.MapGet("/{name}/trials", (string name) => WithStudy(catalog, name, study => Results.Json(study.Trials())));

        studies.MapGet("/{name}/trials/{id:long}", (string name, long id) => WithStudy(catalog, name, study =>
            study.Trial(id) is { } trial ? Results.Json(trial) : Problem(StatusCodes.Status404NotFound, $"study '{name}' has no trial {id}")));

        studies.MapGet("/{name}/export", (string name, string? format) => WithStudy(catalog, name, study =>
            format == "csv" ? Results.Text(study.ExportCsv(), "text/csv") : Results.Text(study.ExportJson(), "application/json")));

        studies.MapPost("/{name}/run", (HttpRequest request, string name) => Guard(() =>
        {
            if (Refused(request, token) is { } refused)
                return Task.FromResult(refused);
            if (Unreachable(catalog, name) is { } unreachable)
                return Task.FromResult(unreachable);
            return Task.FromResult(catalog.Start(name)
                ? Results.Accepted($"/api/studies/{name}")
                : Problem(StatusCodes.Status409Conflict, $"a worker of '{name}' runs already"));
        }));

        // Server-sent events: every trial as it stands, then each change, until the client goes.
        studies.MapGet("/{name}/events", async (HttpContext http, string name) =>
        {
            if (Unreachable(catalog, name) is { } unreachable)
            {
                await unreachable.ExecuteAsync(http).ConfigureAwait(false);
                return;
            }
            if (!catalog.TryAddStream())
            {
                await Problem(StatusCodes.Status503ServiceUnavailable, $"the service streams {StudyCatalog.MaxStreams} studies' events already").ExecuteAsync(http).ConfigureAwait(false);
                return;
            }
            try
            {
                http.Response.Headers.ContentType = "text/event-stream";
                http.Response.Headers.CacheControl = "no-cache";
                await foreach (var change in catalog.Study(name).EventsAsync(TimeSpan.FromMilliseconds(500), http.RequestAborted).ConfigureAwait(false))
                {
                    await http.Response.WriteAsync($"event: trial\ndata: {JsonSerializer.Serialize(change, EventJson)}\n\n", http.RequestAborted).ConfigureAwait(false);
                    await http.Response.Body.FlushAsync(http.RequestAborted).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
            {
            }
            finally
            {
                catalog.RemoveStream();
            }
        });
    }

    private static Task<IResult> WithStudy(StudyCatalog catalog, string name, Func<SearchStudy, IResult> work) => Guard(() =>
    {
        if (Unreachable(catalog, name) is { } unreachable)
            return Task.FromResult(unreachable);
        return Task.FromResult(work(catalog.Study(name)));
    });
}

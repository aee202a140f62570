using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Receptor.Host.Service;
using Xunit;

namespace Receptor.Host.Tests;

/// <summary>The HTTP service with real requests against it, on a free loopback port.</summary>
public sealed class ServiceTests : IAsyncLifetime
{
    private readonly string folder = Repository.TempFolder();
    private ReceptorService service = null!;
    private HttpClient client = null!;

    public async Task InitializeAsync()
    {
        service = await ReceptorService.StartAsync(new ServiceOptions(Port: 0, StudyFolder: folder));
        // A client sending a large body waits for the server's word before sending it, however busy the machine.
        var handler = new SocketsHttpHandler { Expect100ContinueTimeout = TimeSpan.FromSeconds(60) };
        client = new HttpClient(handler) { BaseAddress = service.Address, Timeout = TimeSpan.FromMinutes(3) };
    }

    public async Task DisposeAsync()
    {
        client.Dispose();
        await service.DisposeAsync();
    }

    private static StringContent Text(string text) => new(text, Encoding.UTF8, "text/plain");

    private string Token() => File.ReadAllText(service.TokenPath).Trim();

    [Fact]
    public async Task Analyse_answers_json_and_a_table_and_the_openapi_document_lists_it()
    {
        var lenet = Repository.Read("Examples", "zoo", "lenet5.rcp");
        var json = await client.PostAsync("/api/analyse", Text(lenet));
        Assert.Equal(HttpStatusCode.OK, json.StatusCode);
        using var report = JsonDocument.Parse(await json.Content.ReadAsStringAsync());
        Assert.Equal(61_706, report.RootElement.GetProperty("parameters").GetInt64());
        var table = await client.PostAsync("/api/analyse?format=table", Text(lenet));
        Assert.Contains("c1", await table.Content.ReadAsStringAsync());
        var openapi = await client.GetStringAsync("/openapi/v1.json");
        Assert.Contains("/api/analyse", openapi);
        Assert.Contains("/api/studies/{name}/events", openapi);
        Assert.Equal(IPAddress.Loopback.ToString(), service.Address.Host);
    }

    [Fact]
    public async Task Bad_input_names_its_place()
    {
        var answer = await client.PostAsync("/api/analyse", Text("input(1, 8, 8)\nnetwork n = conv(3, 4) >> reluu\n"));
        Assert.Equal(HttpStatusCode.BadRequest, answer.StatusCode);
        using var problem = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
        Assert.Equal(2, problem.RootElement.GetProperty("line").GetInt32());
    }

    [Fact]
    public async Task Abuse_is_answered_4xx_and_the_service_goes_on()
    {
        var huge = new string('a', 10 * 1024 * 1024);
        var deep = "input(1, 8, 8)\nnetwork n = " + new string('(', 300_000) + "relu" + new string(')', 300_000);
        var repeat = "input(1, 8, 8)\nnetwork n = repeat(1000000000000, relu)\n";
        var cases = new (string What, Func<Task<HttpResponseMessage>> Send, HttpStatusCode Expected)[]
        {
            // Expect: 100-continue, as clients sending large bodies do: the answer comes before the body is sent.
            ("a 10 MB body", () => client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/api/analyse") { Content = Text(huge), Headers = { ExpectContinue = true } }), HttpStatusCode.RequestEntityTooLarge),
            ("300,000-deep nesting", () => client.PostAsync("/api/analyse", Text(deep)), HttpStatusCode.BadRequest),
            ("repeat(10^12, …)", () => client.PostAsync("/api/analyse", Text(repeat)), HttpStatusCode.BadRequest),
            ("a path outside the study folder", () => client.GetAsync("/api/studies/..%2F..%2Fetc%2Fpasswd/export"), HttpStatusCode.BadRequest),
            ("a dot name", () => client.GetAsync("/api/studies/.receptor-token"), HttpStatusCode.BadRequest),
            ("a write without the token", () => client.PostAsJsonAsync("/api/studies", new { name = "s", space = "x" }), HttpStatusCode.Unauthorized),
            ("a post from another site's page", () => client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/api/analyse") { Content = Text(repeat), Headers = { { "Origin", "http://evil.example" } } }), HttpStatusCode.Forbidden),
            ("a measurement beyond the cost limit", () => client.PostAsync("/api/initialisation?seeds=32&batch=64", Text("input(3, 1024, 1024)\nnetwork big = conv(3, 64, padding=1) >> relu >> conv(3, 64, padding=1)\n")), HttpStatusCode.UnprocessableEntity),
        };
        foreach (var (what, send, expected) in cases)
        {
            var answer = await send();
            Assert.True(answer.StatusCode == expected, $"{what}: {(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync()}");
            var after = await client.PostAsync("/api/analyse", Text(Repository.Read("Examples", "zoo", "lenet5.rcp")));
            Assert.True(after.IsSuccessStatusCode, $"a normal request after {what}");
        }
    }

    [Fact]
    public async Task The_token_is_the_owners_alone_and_opens_the_writing_endpoints()
    {
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(service.TokenPath));
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/studies/none/run");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "wrong");
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(request)).StatusCode);
        var right = new HttpRequestMessage(HttpMethod.Post, "/api/studies/none/run");
        right.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token());
        Assert.Equal(HttpStatusCode.NotFound, (await client.SendAsync(right)).StatusCode);
    }

    [Fact]
    public async Task A_study_created_and_run_streams_its_trials_as_server_sent_events()
    {
        var body = new
        {
            name = "blobs",
            space = Repository.Read("Examples", "spaces", "mnist-small.rcp"),
            options = new { data = "synthetic-blobs", strategy = "random", trials = 2, epochs = 1, validation = 200 },
            run = true,
        };
        var create = new HttpRequestMessage(HttpMethod.Post, "/api/studies") { Content = JsonContent.Create(body) };
        create.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token());
        var created = await client.SendAsync(create);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);

        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using var stream = await client.GetStreamAsync("/api/studies/blobs/events", cancel.Token);
        using var reader = new StreamReader(stream);
        var finished = new HashSet<long>();
        while (finished.Count < 2)
        {
            var line = await reader.ReadLineAsync(cancel.Token);
            Assert.NotNull(line);
            if (!line!.StartsWith("data: ", StringComparison.Ordinal))
                continue;
            using var change = JsonDocument.Parse(line["data: ".Length..]);
            var trial = change.RootElement.GetProperty("trial");
            if (trial.GetProperty("state").GetString() == "finished")
                finished.Add(trial.GetProperty("id").GetInt64());
        }
        var leaderboard = await client.GetFromJsonAsync<JsonElement>("/api/studies/blobs/leaderboard?top=5");
        Assert.Equal(2, leaderboard.GetArrayLength());
        var csv = await client.GetStringAsync("/api/studies/blobs/export?format=csv");
        Assert.All(finished, id => Assert.Contains(leaderboard.EnumerateArray().Single(t => t.GetProperty("id").GetInt64() == id).GetProperty("fingerprint").GetString()!, csv));
        Assert.True(File.Exists(Path.Combine(folder, "blobs.study.db")), "the study is a file in the study folder");
    }
}

using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.Playwright;
using Receptor.Host.Service;
using Xunit;

namespace Receptor.Host.Tests;

/// <summary>The dashboard end to end in headless Chromium (Debian's, driven by Playwright; no browser is downloaded), screenshots kept in out/test-artifacts.</summary>
public sealed class DashboardTests : IAsyncLifetime
{
    private const string Chromium = "/usr/bin/chromium";
    private readonly string folder = Repository.TempFolder();
    private ReceptorService service = null!;
    private IPlaywright playwright = null!;
    private IBrowser browser = null!;

    public async Task InitializeAsync()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: scripts/test.sh installs Debian's chromium");
        service = await ReceptorService.StartAsync(new ServiceOptions(Port: 0, StudyFolder: folder));
        playwright = await Playwright.CreateAsync();
        browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            // The machine's network is closed: no background connections, no updates.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
    }

    public async Task DisposeAsync()
    {
        await browser.DisposeAsync();
        playwright.Dispose();
        await service.DisposeAsync();
    }

    private static string Artifact(string name)
    {
        var artifacts = Path.Combine(Repository.Root, "out", "test-artifacts");
        Directory.CreateDirectory(artifacts);
        return Path.Combine(artifacts, name);
    }

    [Fact]
    public async Task The_architecture_view_shows_the_table_the_plots_and_the_erf()
    {
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        await page.GotoAsync(new Uri(service.Address, "#/architecture").ToString());
        await page.FillAsync("#source", Repository.Read("Examples", "zoo", "lenet5.rcp"));
        await page.ClickAsync("#analyse");
        await page.WaitForFunctionAsync("() => document.querySelector('#architecture-status').textContent.includes('nodes agree')", null, new() { Timeout = 120_000 });
        Assert.Equal(12, await page.Locator("#layers tbody tr").CountAsync());
        Assert.Contains("61,706 parameters", await page.TextContentAsync("#totals"));
        Assert.True(await page.EvaluateAsync<bool>("() => Chart.getChart('variance-chart').data.datasets[1].data.length > 0"), "measured variances plotted");
        Assert.True(await page.EvaluateAsync<bool>("() => Chart.getChart('rf-chart').data.datasets[0].data.length > 0"), "fields plotted");
        await page.WaitForFunctionAsync("() => document.querySelector('#erf').naturalWidth > 0", null, new() { Timeout = 60_000 });
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Artifact("dashboard-architecture.png"), FullPage = true });
    }

    [Fact]
    public async Task The_study_view_updates_without_reload_while_the_study_runs()
    {
        using var client = new HttpClient { BaseAddress = service.Address };
        var create = new HttpRequestMessage(HttpMethod.Post, "/api/studies")
        {
            Content = JsonContent.Create(new
            {
                name = "live",
                space = Repository.Read("Examples", "spaces", "mnist-small.rcp"),
                options = new { data = "synthetic-blobs", strategy = "random", trials = 3, epochs = 1, validation = 200 },
                run = false,
            }),
        };
        var token = new AuthenticationHeaderValue("Bearer", File.ReadAllText(service.TokenPath).Trim());
        create.Headers.Authorization = token;
        Assert.True((await client.SendAsync(create)).IsSuccessStatusCode);

        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        await page.GotoAsync(new Uri(service.Address, "#/studies/live").ToString());
        await page.WaitForFunctionAsync("() => document.querySelector('#status').textContent.startsWith('0 finished')", null, new() { Timeout = 30_000 });
        Assert.Equal(0, await page.Locator("#leaderboard tbody tr").CountAsync());
        // A mark a reload would erase; then the study starts, and its trials must arrive on this page.
        await page.EvaluateAsync("() => { window.loadedOnce = true; }");
        var run = new HttpRequestMessage(HttpMethod.Post, "/api/studies/live/run");
        run.Headers.Authorization = token;
        Assert.True((await client.SendAsync(run)).IsSuccessStatusCode);
        await page.WaitForFunctionAsync("() => document.querySelectorAll('#leaderboard tbody tr').length >= 1", null, new() { Timeout = 120_000 });
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Artifact("dashboard-study-first-trial.png"), FullPage = true });
        await page.WaitForFunctionAsync("() => document.querySelectorAll('#leaderboard tbody tr').length === 3", null, new() { Timeout = 180_000 });
        Assert.True(await page.EvaluateAsync<bool>("() => window.loadedOnce === true"), "the page was not reloaded");
        Assert.Contains("3 finished", await page.TextContentAsync("#status"));
        Assert.True(await page.EvaluateAsync<bool>("() => Chart.getChart('pareto-chart').data.datasets[0].data.length === 3"), "every finished trial on the accuracy-MACs plot");
        await page.ClickAsync("#leaderboard tbody tr:nth-child(2)");
        Assert.Contains("network mnistsmall", await page.TextContentAsync("#trial-architecture"));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Artifact("dashboard-study.png"), FullPage = true });
    }
}

module Receptor.Properties.Main

open Expecto

let all = testList "receptor" [ LanguageTests.tests; ZooTests.tests ]

[<EntryPoint>]
let main argv = runTestsWithCLIArgs [] argv all
